"""`hrm_solve(grid)` inside the sandbox runs a real HRM checkpoint through the engine."""

from __future__ import annotations

import pytest

from hrm_agent.sandbox.hrm_tool import preamble
from hrm_agent.sandbox.execute import SandboxLimits, run_code
from hrm_datasets.build_sudoku import build_sudoku
from hrm_engine.run.checkpoint import load_checkpoint
from hrm_engine.config import resolve_config
from hrm_engine.errors import HRMError
from hrm_engine.run.directory import RunDir
from hrm_engine.solve import solve_grid
from hrm_engine.train import Trainer

PUZZLE = [[1, 0, 0, 4], [0, 0, 1, 0], [0, 1, 0, 0], [4, 0, 0, 1]]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny 4x4 Sudoku model after a few real steps, saved as a run directory."""
    import shutil

    root = tmp_path_factory.mktemp("tool")
    data = root / "s4"
    build_sudoku(data, size=4, difficulty="easy", count=64, test_count=4, seed=1)
    cfg = resolve_config("hrm-tiny", None, ["global_batch_size=16", "arch.hidden_size=32", "arch.num_heads=2"])
    trainer = Trainer(cfg, data)
    for _ in range(2):
        trainer.step()
    run = root / "run"
    RunDir(run).write_config(cfg)
    shutil.copyfile(data / "train" / "dataset.json", run / "dataset.json")
    shutil.copyfile(data / "build.json", run / "build.json")
    trainer.save(run)
    return run


def test_sandboxed_code_calls_the_model(checkpoint):
    expected = solve_grid(load_checkpoint(checkpoint), PUZZLE)
    res = run_code(f"grid = {PUZZLE!r}\nRESULT = hrm_solve(grid)", preamble=preamble(checkpoint),
                   limits=SandboxLimits(wall_s=60, cpu_s=60, memory_mb=2048), allowed_read_paths=[str(checkpoint)])
    assert res.ok, (res.exit_reason, res.error, res.stderr[-2000:])
    assert res.result == expected
    assert len(res.result) == 4 and all(len(r) == 4 for r in res.result)


def test_the_guard_still_holds_after_the_model_is_loaded(checkpoint, tmp_path):
    target = tmp_path / "escape.txt"
    res = run_code(f"open({str(target)!r}, 'w').write('x')\nRESULT = 1", preamble=preamble(checkpoint),
                   limits=SandboxLimits(wall_s=60, cpu_s=60, memory_mb=2048), allowed_read_paths=[str(checkpoint)])
    assert res.exit_reason == "forbidden" and not target.exists()


def test_missing_checkpoint_is_one_clear_error(tmp_path):
    with pytest.raises(HRMError, match="does not exist"):
        preamble(tmp_path / "nope")
