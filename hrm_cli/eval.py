"""`hrm eval`: score a checkpoint on a dataset split with the reference metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def evaluate(
    checkpoint: Path = typer.Argument(..., help="Run directory (uses its best checkpoint) or a checkpoint folder."),
    data: Path = typer.Option(..., "--data", "-d", help="Dataset folder."),
    split: str = typer.Option("test", "--split", help="Split to score."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Evaluation batch (default: the run's)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score CHECKPOINT on DATA. Exact accuracy (the whole puzzle right) is the headline metric.

    Examples:
      hrm eval runs/demo --data data/demo-sudoku
      hrm eval runs/demo/checkpoints/step_0000500 --data data/demo-sudoku --json
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from hrm_cli.console import console, print_json, progress_bar
    from hrm_datasets.format import load_metadata
    from hrm_engine.checkpoint import load_checkpoint
    from hrm_engine.errors import EngineError
    from hrm_engine.evaluate import evaluate_split

    loaded = load_checkpoint(checkpoint)
    meta = load_metadata(data, split)
    for field in ("vocab_size", "seq_len"):
        if getattr(meta, field) != getattr(loaded.metadata, field):
            raise EngineError(f"{data}/{split} has {field}={getattr(meta, field)} but the checkpoint was trained with "
                              f"{getattr(loaded.metadata, field)}; evaluate on data of the same kind and size")
    if meta.num_puzzle_identifiers > loaded.metadata.num_puzzle_identifiers:
        raise EngineError(f"{data}/{split} uses {meta.num_puzzle_identifiers} puzzle identifiers, the checkpoint knows "
                          f"{loaded.metadata.num_puzzle_identifiers}; evaluate on the dataset it was trained with")
    bs = batch_size or int(loaded.config.get("eval_batch_size") or loaded.config.get("global_batch_size", 256))
    arrays_total = None
    progress = progress_bar(TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            disable=as_json, transient=True)
    task = progress.add_task("eval", total=arrays_total)
    kind = loaded.build_info.get("kind")
    with progress:
        metrics, collected = evaluate_split(loaded.model, data, split, bs,
                                            on_batch=lambda done, _n: progress.update(task, completed=done),
                                            collect=kind == "arc")
    result = {"checkpoint": str(loaded.path), "step": loaded.step, "data": str(data), "split": split,
              "metrics": metrics}
    if kind == "arc" and collected is not None:
        from hrm_engine.arc_scoring import score_arc_predictions

        result["arc"] = score_arc_predictions(data, split, collected)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"{checkpoint} (step {loaded.step}) on {data}/{split}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("[bold]exact accuracy[/] (whole puzzle right)", f"[bold]{metrics['exact_accuracy']:.4f}[/]")
    table.add_row("token accuracy (per cell, not the headline)", f"{metrics['accuracy']:.4f}")
    table.add_row("puzzles scored", f"{int(metrics['count'])}")
    table.add_row("q_halt accuracy", f"{metrics['q_halt_accuracy']:.4f}")
    table.add_row("ACT steps", f"{metrics['steps']:.2f}")
    table.add_row("lm_loss", f"{metrics['lm_loss']:.4f}")
    table.add_row("q_halt_loss", f"{metrics['q_halt_loss']:.4f}")
    for key, value in (result.get("arc") or {}).get("pass_at", {}).items():
        table.add_row(f"ARC pass@{key}", f"{value:.4f}")
    console.print(table)
