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
    samples: int = typer.Option(1, "--samples", "-k", min=1,
                                help="Also vote over K transformed copies per puzzle (Maze: at most 8)."),
    max_segments: Optional[int] = typer.Option(None, "--max-segments", min=1,
                                               help="ACT segments to run (default: the training's halt_max_steps)."),
    verify: bool = typer.Option(False, "--verify", help="Also score answering only with verified candidates."),
    adapt: Optional[str] = typer.Option(None, "--adapt", help="ARC tasks never trained on: adapt the embedding "
                                        "with these methods (comma-separated: none,mean,random,bopro,gradient,trained) "
                                        "and score test pairs against evaluations."),
    evaluations: int = typer.Option(32, "--evaluations", "-n", help="--adapt: model evaluations per task and method."),
    limit: Optional[int] = typer.Option(None, "--limit", help="--adapt: the first N tasks only."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="--adapt: folder for result.json and "
                                          "points.jsonl (default runs/adapt/<run>-<time>)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="--adapt: draw exact accuracy against evaluations here (PNG)."),
    seed: int = typer.Option(0, "--seed", help="--adapt: seed of the latent draws, the GP and the bootstrap."),
    acquisition: str = typer.Option("ei", "--acquisition", help="--adapt bopro: ei, ucb or thompson."),
    latent_dim: int = typer.Option(16, "--latent-dim", help="--adapt: principal components searched."),
    draws: str = typer.Option("gaussian", "--draws", help="--adapt random/bopro: gaussian (z ~ N(0, I)) | trained (the trained tasks' own points)."),
    adapt_batch: int = typer.Option(4, "--batch", help="--adapt: bopro proposals per round / random candidates per batch."),
    lr: float = typer.Option(0.01, "--lr", help="--adapt gradient: Adam's step size on the embedding."),
) -> None:
    """Score CHECKPOINT on DATA. Exact accuracy (the whole puzzle right) is the headline metric.

    With --samples K and/or --verify a second table gives, for K = 1, 2, 4, ..., K samples, exact
    accuracy and the shares of wrong answers submitted and of puzzles abstained on.

    Examples:
      hrm eval runs/demo --data data/demo-sudoku
      hrm eval runs/demo/checkpoints/step_0000500 --data data/demo-sudoku --json
      hrm eval runs/demo --data data/demo-sudoku --samples 8 --verify --max-segments 8
      hrm eval runs/arc-syn --data data/arc-syn-s7 --adapt none,random,bopro,gradient --evaluations 32

    With --adapt, DATA holds ARC task files (DATA/tasks/evaluation for --split test, DATA/tasks/training for
    --split train, or DATA itself); each task's embedding is chosen from its demonstrations only
    (docs/test-time-adaptation.md).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from hrm_cli.console import console, print_json, progress_bar, warn
    from hrm_datasets.format import load_metadata
    from hrm_engine.run.checkpoint import load_checkpoint
    from hrm_engine.errors import EngineError
    from hrm_datasets.verify import ARC_NOTE
    from hrm_engine.evaluate import evaluate_split
    from hrm_engine.solve import detect_kind

    from hrm_engine.solving.tta import check_samples

    if adapt is not None:
        from hrm_cli.adapt_cmds import eval_adapted, settings_from

        if samples > 1 or verify:
            raise EngineError("--adapt scores the adapted embedding's answer; --samples and --verify are not used with it")
        eval_adapted(checkpoint, data, split, adapt, evaluations,
                     settings_from(evaluations, seed, acquisition, adapt_batch, lr, draws), latent_dim, max_segments, limit,
                     output, plot, as_json)
        return
    check_samples(samples)  # before the first pass, not after it
    loaded = load_checkpoint(checkpoint)
    if loaded.note:
        warn(loaded.note)
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
                                            collect=kind == "arc", segments=max_segments)
    result = {"checkpoint": str(loaded.path), "step": loaded.step, "data": str(data), "split": split,
              "metrics": metrics}
    notes = []
    if (samples > 1 or verify) and detect_kind(loaded) == "arc":
        notes.append("ARC: votes are over the dataset's augmented versions (pass@K below); " + ARC_NOTE)
    elif samples > 1 or verify:
        from hrm_engine.solving.eval_samples import evaluate_samples

        bar = progress_bar(TextColumn(f"samples K={samples}"), BarColumn(), MofNCompleteColumn(),
                           TimeRemainingColumn(), disable=as_json, transient=True)
        with bar:
            sampled = bar.add_task("samples", total=int(metrics["count"]))
            result["samples"] = evaluate_samples(loaded.model, data, split, detect_kind(loaded), samples,
                                                 max_segments, verify, bs,
                                                 on_batch=lambda done, _n: bar.update(sampled, completed=done))
    if kind == "arc" and collected is not None:
        from hrm_engine.solving.arc_scoring import score_arc_predictions

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
    if "arc" in result:
        table.add_row("ARC vote margin (top minus runner-up, mean)", f"{result['arc']['vote_margin_mean']:.2f}")
    console.print(table)
    if "samples" in result:
        console.print(samples_table(result["samples"]))
    for note in notes:
        console.print(note, highlight=False)


def samples_table(res: dict):
    """Rows per K and answering mode: exact accuracy, wrong answers submitted, abstained."""
    from rich.table import Table

    table = Table(title=f"test-time samples ({res['segments']} segments, "
                        f"{res['seconds_per_puzzle'] * 1000:.1f} ms per puzzle at K = {res['samples']})")
    for name in ("samples K", "answer", "exact accuracy", "wrong submitted", "abstained"):
        table.add_column(name, justify="left" if name == "answer" else "right")
    for row in res["rows"]:
        table.add_row(str(row["samples"]), "verified only" if row["verify"] else "top vote",
                      f"{row['exact_accuracy']:.4f}", f"{row['wrong']:.4f}", f"{row['abstained']:.4f}")
    return table
