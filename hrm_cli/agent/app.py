"""The `hrm agent` command group: each command lives in its own module; this one only lists them, in the order
the group's help shows them."""

from __future__ import annotations

import typer

from hrm_cli.agent import curriculum_experiment, experiments, optimize, run, tune

app = typer.Typer(help="Run and inspect the hierarchical LLM agent.", no_args_is_help=True)
app.command("run")(run.run_cmd)
app.command("show")(run.show_cmd)
app.command("optimize")(optimize.optimize_cmd)
app.command("bench")(experiments.bench_cmd)
app.command("report")(experiments.report_cmd)
app.command("tune")(tune.tune_cmd)
app.command("e3")(curriculum_experiment.e3_cmd)
