"""`hrm agent optimize TASK --seeds N`: BOPRO against random search over N seeds, with t intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional


def _ci(cell: dict[str, float], digits: int = 3) -> str:
    lo, hi = cell["lower"], cell["upper"]
    if lo != lo:  # nan: one seed, no interval
        return f"{cell['mean']:.{digits}g}"
    return f"{cell['mean']:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def render_comparison(summary: dict[str, Any]) -> None:
    """The table of mean best-so-far per evaluation with intervals, then the verdict in one line."""
    from rich.table import Table

    from hrm_cli.console import console

    pct = round(100 * summary["level"])
    table = Table(
        title=f"{summary['task']}: best found so far, mean over {summary['runs']} seeds [{pct}% t interval]",
        title_justify="left",
    )
    for col in ("eval", "bopro", "random", "bopro - random"):
        table.add_column(col, justify="right")
    for row in summary["curve"]:
        k = row["evaluation"]
        table.add_row(f"{k}*" if k <= summary["initial"] else str(k), _ci(row["bopro"]), _ci(row["random"]),
                      _ci(row["difference"]))
    console.print(table)
    console.print("[dim]* shared initial design (the same in both arms of a seed)[/]")
    diff = summary["final"]["difference"]
    auc = summary["mean_best_so_far_difference"]
    console.print(
        f"after {summary['evaluations']} evaluations: bopro - random = {_ci(diff)}; mean best-so-far "
        f"difference {_ci(auc)}; bopro better on {summary['bopro_wins']} seeds, random on "
        f"{summary['random_wins']}, tied {summary['ties']}",
        highlight=False,
    )
    console.print(
        f"[dim]{summary['backend']}:{Path(str(summary['model'])).name}  embedding {summary['embedding']}  "
        f"{summary['kernel']} + {summary['acquisition']}  seeds {summary['seeds']}  {summary['wall_s']:.0f}s\n"
        f"comparison: {summary['dir']}/comparison.json  plot: {summary['plot']}[/]",
        highlight=False,
    )


def run_comparison(
    spec: Any,
    llm: Any,
    embedder: Any,
    *,
    seeds: int,
    first_seed: Optional[int],
    evaluations: Optional[int],
    runs_dir: Path,
    compare_id: Optional[str],
    listener: Optional[Callable[[dict[str, Any]], None]],
    as_json: bool,
) -> None:
    """Run `seeds` seeds from `first_seed` (default: the task's seed) and print the comparison."""
    from hrm_agent.optimize.bopro import compare_seeds
    from hrm_cli.console import err_console, print_json

    start = spec.seed if first_seed is None else first_seed
    planned = list(range(start, start + seeds))

    def on_run(seed: int, result: dict[str, Any], reused: bool) -> None:
        if as_json:
            return
        arms = result["arms"]
        took = "(reused)" if reused else f"{result['wall_s']:.0f}s"
        err_console.print(
            f"[dim]seed {seed}: best bopro {arms['bopro']['best_score']:.4g}, random "
            f"{arms['random']['best_score']:.4g}  {took}[/]",
            highlight=False,
        )

    summary = compare_seeds(spec, llm, embedder, planned, evaluations=evaluations, runs_dir=runs_dir,
                            compare_id=compare_id, listener=listener, on_run=on_run)
    if as_json:
        print_json(summary)
        return
    render_comparison(summary)
