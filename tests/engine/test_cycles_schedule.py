"""`cycles_schedule`: training's recursion depth per stage (engine/training/schedule.py, Trainer.step_fn)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hrm_inprocess import assert_one_line_error, run_main

from hrm_engine.config import resolve_config
from hrm_engine.config_ranges import resolve_train_config
from hrm_engine.errors import ConfigError
from hrm_engine.run.checkpoint import list_checkpoints
from hrm_engine.train import Trainer, TrainingInterrupted, run_training
from hrm_engine.training.schedule import CyclesSchedule
from tiny_runs import StopAt

# trm-tiny's network, smaller: arch cycles (2, 3); a stage of (1, 2) runs 3 updates a segment instead of 8
TINY = ["arch.hidden_size=32", "arch.num_heads=2", "global_batch_size=16", "log_interval=1", "lr_warmup_steps=2",
        "arch.halt_max_steps=3", "prefetch_batches=0"]
SCHEDULE = "cycles_schedule=[[0.0, 1, 2], [0.375, 2, 2], [0.75, 2, 3]]"  # of 8 steps: 3, 3 and 2


def cfg(tmp_path, *extra):
    return resolve_config("trm-tiny", None, [*TINY, f"runs_dir={tmp_path}", *extra])


def test_stages_start_at_their_fraction_of_the_steps():
    s = CyclesSchedule.parse([[0.0, 1, 2], [0.375, 2, 2], [0.75, 2, 3]])
    assert s.start_steps(8) == [0, 3, 6] and s.steps_per_stage(8) == [3, 3, 2]
    assert [s.cycles_at(k, 8) for k in range(8)] == [(1, 2)] * 3 + [(2, 2)] * 3 + [(2, 3)] * 2
    assert s.steps_per_stage(3300) == [1237, 1238, 825] and sum(s.steps_per_stage(3300)) == 3300


@pytest.mark.parametrize("value, fragment", [
    ("[[0.1, 1, 2]]", "the first stage must start at 0"),
    ("[[0.0, 1, 2], [0.5, 2, 2], [0.4, 2, 3]]", "must rise"),
    ("[[0.0, 0, 2]]", "cycles 0 is not an int >= 1"),
    ("[[0.0, 1.5, 2]]", "cycles 1.5 is not an int >= 1"),
    ("[[0.0, 1]]", "is not [start fraction, H_cycles, L_cycles]"),
    ("[[0.0, 1, 2], [1.0, 2, 3]]", "start 1.0 is not a fraction in [0, 1)"),
    ("[]", "not a non-empty list"),
    ("3", "not a non-empty list"),
])
def test_a_bad_schedule_is_one_line_naming_the_key_and_the_rule(tmp_path, value, fragment):
    override = f"cycles_schedule={value}"
    with pytest.raises(ConfigError, match="cycles_schedule") as err:
        resolve_train_config("trm-tiny", None, [override])
    assert fragment in str(err.value) and "cycles int >= 1" in str(err.value)
    assert_one_line_error(run_main("config", "show", "trm-tiny", override, cwd=tmp_path), fragment,
                          "'cycles_schedule'")


def test_a_stage_runs_exactly_the_model_built_with_its_cycles(sudoku4, tmp_path):
    """Stage (1, 2) of an arch (2, 3) gives the same losses as an arch (1, 2) model (same init, same batches);
    the arch's own cycles give others: the stage really runs fewer cycles, and evaluation runs the arch's."""
    staged = Trainer(cfg(tmp_path, "cycles_schedule=[[0.0, 1, 2], [0.9, 2, 3]]", "max_steps=10"), sudoku4)
    direct = Trainer(cfg(tmp_path, "arch.H_cycles=1", "arch.L_cycles=2", "max_steps=10"), sudoku4)
    full = Trainer(cfg(tmp_path, "max_steps=10"), sudoku4)
    for _ in range(3):
        a, b, c = staged.step(), direct.step(), full.step()
        assert a == b
        assert a["lm_loss"] != c["lm_loss"]
    model = staged.model
    carry = staged.carry
    rows = model.puzzle_emb[carry["puzzle_identifiers"]]
    args = (carry["z_H"], carry["z_L"], carry["inputs"], rows)
    arch, stage = model.segment(*args), model.segment(*args, cycles=(1, 2))
    assert np.array_equal(np.array(arch[2]), np.array(model.segment(*args, cycles=(2, 3))[2]))
    assert not np.allclose(np.array(arch[2]), np.array(stage[2]))
    assert staged.model.config.H_cycles == 2 and staged.model.config.L_cycles == 3  # the arch itself untouched


def test_one_compiled_step_per_stage_and_the_steps_counted_per_stage(sudoku4, tmp_path, monkeypatch):
    trainer = Trainer(cfg(tmp_path, SCHEDULE, "max_steps=8"), sudoku4)
    built, used = [], []
    original = trainer._build_step

    def recording(compile_, cycles=None):
        built.append(cycles)
        return original(compile_, cycles)

    monkeypatch.setattr(trainer, "_build_step", recording)
    for _ in range(8):
        used.append(tuple(trainer.recipe_state()["cycles"]))
        trainer.step()
    assert built == [(1, 2), (2, 2), (2, 3)]
    assert [used.count(c) for c in built] == [3, 3, 2]


def test_resume_lands_in_the_stage_and_gives_the_same_losses(sudoku4, tmp_path):
    base = cfg(tmp_path, SCHEDULE, "max_steps=8", "eval_interval=null")
    run_training(base, sudoku4, run_name="full")
    with pytest.raises(TrainingInterrupted):  # stopped after step 4 of 8, in stage 1 (a Ctrl-C's path)
        run_training(base, sudoku4, run_name="split", observer=StopAt(4))
    state = json.loads((list_checkpoints(tmp_path / "split")[-1] / "state.json").read_text())
    assert state["step"] == 4 and state["cycles"] == [2, 2] and state["cycles_stage"] == 1
    resumed = Trainer(base, sudoku4)
    resumed.restore(list_checkpoints(tmp_path / "split")[-1])
    assert resumed.stage_cycles() == (2, 2)
    run_training(base, sudoku4, resume=tmp_path / "split")

    def train_lines(name):
        lines = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return [r for r in lines if r["type"] == "train"]

    full, split = train_lines("full"), train_lines("split")
    assert [r["cycles"] for r in full] == [[1, 2]] * 3 + [[2, 2]] * 3 + [[2, 3]] * 2
    assert [r["cycles"] for r in split] == [r["cycles"] for r in full]
    assert np.allclose([r["lm_loss"] for r in full], [r["lm_loss"] for r in split], rtol=1e-5, atol=1e-6)


def test_off_by_default_and_nothing_recorded(sudoku4, tmp_path):
    trainer = Trainer(cfg(tmp_path, "max_steps=2"), sudoku4)
    assert trainer.cycles_schedule is None and trainer.stage_cycles() is None and trainer.recipe_state() == {}
    assert set(trainer.state_dict()) == {"sampler", "seed", "epoch", "total_steps"}
    trainer.step()
    assert trainer.recipe_state() == {} and trainer.carry["z_H"].shape[0] == 16


def test_bench_train_times_every_stage_and_the_whole_schedule(tmp_path):
    from hrm_engine.bench.throughput import bench_train

    config = resolve_train_config("trm-tiny", None, [*TINY, SCHEDULE])
    result = bench_train(config, steps=2, warmup=1, seq_len=16, vocab_size=6)
    stages = result["stages"]
    assert [(s["H_cycles"], s["L_cycles"]) for s in stages] == [(1, 2), (2, 2), (2, 3)]
    assert sum(s["steps"] for s in stages) == result["total_steps"] and all(s["s_per_step"] > 0 for s in stages)
    assert result["schedule_s"] == pytest.approx(sum(s["steps"] * s["s_per_step"] for s in stages))
    assert result["s_per_step"] == pytest.approx(result["schedule_s"] / result["total_steps"])
    shown = run_main("bench", "train", "--config", "trm-tiny", *TINY, SCHEDULE, "--steps", "1", "--warmup", "1",
                     "--seq-len", "16", "--vocab", "6", cwd=tmp_path)
    assert shown.returncode == 0 and "2 x 3" in shown.stdout and "min of training" in shown.stdout, shown.stderr
