"""`hrm import reference` (a sapientinc/HRM checkpoint -> an hrm run directory) and `hrm parity`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

import_app = typer.Typer(help="Import checkpoints trained by other implementations.", no_args_is_help=True)


@import_app.command("reference")
def import_reference(
    checkpoint: Path = typer.Argument(..., help="The reference's checkpoint file (checkpoints/.../step_N) or safetensors."),
    arch: Optional[Path] = typer.Option(None, "--arch", "-a",
                                        help="all_config.yaml or a JSON model config (default: all_config.yaml "
                                             "beside the checkpoint)."),
    output: Path = typer.Option(..., "--output", "-o", help="Run directory to write."),
    data: Optional[Path] = typer.Option(None, "--data", "-d",
                                        help="The dataset it was trained on (default: the config's data_path)."),
    step: Optional[int] = typer.Option(None, "--step", help="Step to record (default: N of step_N)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output directory."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Turn a reference HRM checkpoint into a run directory for `hrm eval`, `hrm solve`, `hrm train --resume`.

    Reads the torch checkpoint without PyTorch (a restricted unpickler: tensors only; a pickle that
    would run code is refused). Every tensor is mapped by name; missing, unexpected or mis-shaped
    ones are reported. The optimizer starts fresh (the reference saves no optimizer state).

    Examples:
      hrm import reference checkpoints/Sudoku/run/step_26040 --data data/sudoku-extreme-1k-aug-1000 -o runs/ref
      hrm import reference weights.safetensors --arch config.json --output runs/ref --step 0
    """
    from hrm_cli.console import console, print_json
    from hrm_engine.reference.convert import import_reference as do_import

    result = do_import(checkpoint, output, arch_config=arch, data=data, step=step, force=force)
    info = {"output": str(result.output), "checkpoint": str(result.checkpoint), "step": result.step,
            "tensors": result.tensors, "parameters": result.parameters, "metadata_from": result.metadata_from,
            "ignored": result.ignored}
    if as_json:
        print_json(info)
        return
    console.print(f"[bold green]imported[/] {result.tensors} tensors ({result.parameters:,} trainable parameters) "
                  f"from {checkpoint} into {result.output} at step {result.step}; data sizes from "
                  f"{result.metadata_from}", highlight=False)
    console.print(f"next: hrm eval {result.output} --data DATA", highlight=False)


def parity(
    fixture: Path = typer.Argument(..., help="A parity fixture directory (or a folder of them)."),
    tolerance: Optional[List[str]] = typer.Option(
        None, "--tolerance", "-t",
        help="KIND=VALUE (kinds: logits, q, state, loss, grad, exact) or VALUE for all; repeatable."),
    detail: bool = typer.Option(False, "--all", help="One row per segment and gradient tensor."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Run our engine on a reference fixture and report, per quantity, max absolute and relative error.

    Exit 0 only when every quantity is within tolerance (fp32 defaults: 1e-4 relative on logits, Q values
    and hidden states; 1e-3 on losses, metrics and gradients; halting, steps and counts exactly).
    Fixtures come from tools/make_parity_fixture.py (docs/parity.md).

    Examples:
      hrm parity tests/fixtures/parity/h64-rope
      hrm parity tests/fixtures/parity --json
      hrm parity my-fixture --tolerance logits=1e-3 --all
    """
    from rich.table import Table

    from hrm_cli.console import console, print_json
    from hrm_engine.errors import EngineError
    from hrm_engine.reference.parity import parse_tolerances, run_parity

    tol = parse_tolerances(tolerance)
    if (fixture / "config.json").is_file() or not fixture.is_dir():
        paths = [fixture]
    else:
        paths = sorted(p for p in fixture.iterdir() if (p / "config.json").is_file())
        if not paths:
            raise EngineError(f"{fixture} holds no parity fixture (no config.json in it or its subfolders)")
    reports = [run_parity(p, tol) for p in paths]
    if as_json:
        data = [r.to_dict() for r in reports]
        print_json(data[0] if len(data) == 1 and (fixture / "config.json").is_file() else data)
    else:
        for report in reports:
            c = report.config
            title = (f"{report.fixture}: D={c.get('hidden_size')} H{c.get('H_cycles')}xL{c.get('L_cycles')} "
                     f"layers {c.get('H_layers')}/{c.get('L_layers')} ACT<={c.get('halt_max_steps')} "
                     f"puzzle_emb_ndim={c.get('puzzle_emb_ndim')} {c.get('pos_encodings')} {c.get('forward_dtype')}")
            table = Table(title=title, title_justify="left")
            for name, justify in (("quantity", "left"), ("kind", "left"), ("max abs", "right"), ("max rel", "right"),
                                  ("tolerance", "right"), ("", "left"), ("note", "left")):
                table.add_column(name, justify=justify)
            for row in (report.comparisons if detail else report.grouped()):
                mark = "[green]pass[/]" if row.passed else "[bold red]FAIL[/]"
                tol_text = "exact" if row.kind == "exact" else f"{row.tolerance:.0e}"
                table.add_row(row.name, row.kind, f"{row.max_abs:.2e}", f"{row.max_rel:.2e}", tol_text, mark, row.note)
            console.print(table)
            verdict = "[bold green]parity[/]" if report.passed else "[bold red]parity FAILED[/]"
            console.print(f"{verdict}: {sum(r.passed for r in report.comparisons)}/{len(report.comparisons)} "
                          f"comparisons within tolerance", highlight=False)
    if not all(r.passed for r in reports):
        raise typer.Exit(1)
