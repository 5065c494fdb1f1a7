"""The recipe options in training: reference batches bit-identical when off; curriculum, hints and depth stages
composing with each other and with resume (engine/training/sampling.py, Trainer)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hrm_inprocess import assert_one_line_error, run_main

from hrm_datasets.build_sudoku import build_sudoku
from hrm_datasets.difficulty import difficulty_path
from hrm_datasets.loader import TrainSampler
from hrm_engine.config import resolve_config
from hrm_engine.train import Trainer, TrainingInterrupted, run_training
from hrm_engine.training.sampling import train_sampler
from tiny_runs import StopAt

TINY = ["arch.hidden_size=32", "arch.num_heads=2", "global_batch_size=16", "log_interval=1", "lr_warmup_steps=2",
        "arch.halt_max_steps=3"]
RECIPE = ["cycles_schedule=[[0.0, 1, 2], [0.5, 2, 3]]", "curriculum=true", "curriculum_start=0.3",
          "curriculum_steps=0.5", "hint_start=0.4", "hint_steps=0.5"]
NEW_KEYS = ("cycles_schedule", "curriculum", "curriculum_start", "curriculum_steps", "hint_start", "hint_steps")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("d") / "s4"
    build_sudoku(out, size=6, difficulty="medium", count=64, test_count=16, seed=0)
    return out


def cfg(tmp_path, *extra):
    return resolve_config("trm-tiny", None, [*TINY, f"runs_dir={tmp_path}", *extra])


def test_with_the_options_off_the_batches_are_the_references(data, tmp_path):
    config = cfg(tmp_path)
    ours = train_sampler(config, data, total_steps=100)
    reference = TrainSampler(data, 16, seed=0, epochs_per_iter=12)  # as Trainer built it before the options
    assert type(ours) is TrainSampler
    for _ in range(9):  # 64 puzzles / 16: crosses two passes
        a, b = ours.next_batch(), reference.next_batch()
        assert all(np.array_equal(a[k], b[k]) for k in b)
    trainer = Trainer(config, data)
    assert trainer.hints is None and trainer.cycles_schedule is None
    trainer.step()
    first = TrainSampler(data, 16, seed=0, epochs_per_iter=12).next_batch()
    assert np.array_equal(np.array(trainer.carry["inputs"]), first["inputs"])  # what the step consumed, unchanged


def test_a_config_written_before_the_options_trains_the_same(data, tmp_path):
    """A run's config.yaml from before these keys existed resumes with them off: the same steps."""
    config = cfg(tmp_path, "max_steps=4")
    old = {k: v for k, v in config.items() if k not in NEW_KEYS}
    a, b = Trainer(config, data), Trainer(old, data)
    for _ in range(3):
        assert a.step() == b.step()


def test_hints_change_only_what_the_step_sees(data, tmp_path):
    trainer = Trainer(cfg(tmp_path, "hint_start=1.0", "hint_steps=0.5"), data)
    trainer.step()
    first = TrainSampler(data, 16, seed=0, epochs_per_iter=12).next_batch()
    seen = np.array(trainer.carry["inputs"])
    assert np.array_equal(seen, first["labels"])  # a hint fraction of 1 at step 0: every cell shown
    assert trainer.recipe_state(0)["hint"] == 1.0


def test_every_option_together_resumes_to_the_same_losses(data, tmp_path):
    config = cfg(tmp_path, *RECIPE, "max_steps=8", "eval_interval=null")
    run_training(config, data, run_name="full")
    with pytest.raises(TrainingInterrupted):
        run_training(config, data, run_name="split", observer=StopAt(5))
    run_training(config, data, resume=tmp_path / "split")

    def train_lines(name):
        lines = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return [r for r in lines if r["type"] == "train"]

    full, split = train_lines("full"), train_lines("split")
    assert len(full) == len(split) == 8
    assert [r["cycles"] for r in full] == [[1, 2]] * 4 + [[2, 3]] * 4
    assert [r["competence"] for r in full][0] == pytest.approx(20 / 64) and full[-1]["competence"] == 1.0
    assert full[0]["hint"] == pytest.approx(0.4) and full[-1]["hint"] == 0.0
    for key in ("lm_loss", "accuracy", "competence", "hint"):
        assert np.allclose([r[key] for r in full], [r[key] for r in split], rtol=1e-5, atol=1e-6), key


def test_curriculum_on_data_without_difficulty_is_one_line_naming_the_rebuild(data, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(data, old)
    difficulty_path(old, "train").unlink()
    result = run_main("train", str(old), "--config", "trm-tiny", "curriculum=true", "max_steps=1", cwd=tmp_path)
    assert_one_line_error(result, "curriculum=true", "hrm data build sudoku --size 6 --difficulty medium",
                          f"--output {old} --force")


def test_the_recipe_presets_show_and_the_reference_presets_keep_the_options_off(tmp_path):
    from hrm_engine.config import available_presets, config_dir
    from hrm_engine.config_ranges import resolve_train_config

    result = run_main("config", "show", "trm-sudoku9-fast", cwd=tmp_path)
    assert result.returncode == 0 and "cycles_schedule:" in result.stdout, result.stderr
    for name, difficulty, steps in (("trm-sudoku9-fast", "medium", 4125), ("trm-sudoku9-hard", "hard", 12375)):
        config = resolve_train_config(name)
        assert config["cycles_schedule"] == [[0.0, 1, 2], [0.3, 2, 2], [0.6, 2, 3]]
        assert int(config["epochs"] * 1000 / config["global_batch_size"]) == steps
        header = (config_dir() / f"{name}.yaml").read_text()
        assert f"hrm data build sudoku --size 9 --difficulty {difficulty} --count 1000" in header
    assert resolve_train_config("trm-sudoku9-hard")["curriculum"] is True
    one_core = resolve_train_config("trm-sudoku9-1core")  # the one-core 10-minute recipe (docs/learning.md)
    assert one_core["cycles_schedule"] == [[0.0, 1, 2], [0.5, 2, 2], [0.8, 2, 3]] and one_core["hint_start"] == 0.5
    assert int(one_core["epochs"] * 1000 / one_core["global_batch_size"]) == 8000 and one_core["cpu_streams"] == 1
    assert "--difficulty medium --count 1000" in (config_dir() / "trm-sudoku9-1core.yaml").read_text()
    for name in set(available_presets()) - {"agent", "trm-sudoku9-fast", "trm-sudoku9-hard", "trm-sudoku9-1core"}:
        config = resolve_train_config(name)
        assert (config["cycles_schedule"], config["curriculum"], config["hint_start"]) == (None, False, 0.0), name
        assert config["optimizer"] == "adam_atan2", name
