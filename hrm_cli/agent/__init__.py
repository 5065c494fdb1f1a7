"""`hrm agent ...`: the CLI of the LLM agent, one module per command (app.py lists them).

    run.py                    `run` and `show`: one task end to end, a trace drawn as a tree
    experiments.py            `bench` and `report`: hierarchical against flat on suites
    tune.py                   `tune`: LoRA-tune the local model
    curriculum_experiment.py  `e3`: curriculum against mixed tuning on held-out chains
    optimize.py               `optimize`: BOPRO against random search (optimize_compare.py: over seeds)
    config.py                 the agent config, the task and its context, read alike by every command
    render.py                 traces and run status on a terminal
"""
