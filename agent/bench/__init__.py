"""Benchmarking the controllers: suites of checked tasks, resumable runs, failure categories, reports.

    tasks.py                  Task and Suite, the records every other module here passes around
    suites.py                 the suites (YAML files, HumanEval, the curriculum) and the answer checkers
    curriculum.py             generated multi-step chains with exact answers and known depth
    runs.py                   suite x controllers x samples into runs/bench/<id>/ (`hrm agent bench`)
    failure_rules.py          one failure category per failed item, by rules over its trace
    report.py                 bench runs as Markdown with tables and charts (`hrm agent report`)
    plots.py                  the charts (matplotlib, headless)
    curriculum_experiment.py  experiment E3, curriculum against mixed tuning on held-out chains (`hrm agent e3`)
"""
