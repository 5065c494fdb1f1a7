"""A small synthetic ARC family and a tiny TRM trained on it, built once per test session for the
adaptation tests (tests/engine/test_adapt*.py, tests/cli/test_adapt_cli.py)."""

from __future__ import annotations

from pathlib import Path

from hrm_inprocess import run_main

TINY_TRM = ["arch.hidden_size=32", "arch.num_heads=2", "arch.L_layers=1", "arch.H_cycles=1", "arch.L_cycles=2",
            "arch.mlp_t=false", "arch.pos_encodings=rope", "arch.halt_max_steps=2", "global_batch_size=32",
            "max_steps=12", "log_interval=4", "eval_interval=null", "epochs=100", "compile=false"]

_BUILT: dict[str, Path] = {}


def adapt_run(root_factory) -> tuple[Path, Path]:
    """(dataset folder, run folder): 24 training and 4 held-out tasks (seed 3), a tiny TRM, 12 real steps."""
    if "run" not in _BUILT:
        root = root_factory.mktemp("adapt")
        built = run_main("data", "build", "arc", "--source", "synthetic", "--train-tasks", "24", "--test-tasks", "4",
                         "--seed", "3", "--output", str(root / "syn"))
        assert built.returncode == 0, built.stderr
        trained = run_main("train", str(root / "syn"), "--config", "trm-tiny", *TINY_TRM, "--run-name", "arc",
                           f"runs_dir={root / 'runs'}", "--json")
        assert trained.returncode == 0, trained.stderr
        _BUILT.update(data=root / "syn", run=root / "runs" / "arc")
    return _BUILT["data"], _BUILT["run"]
