"""engine/bench/learn.py: time-to-accuracy curves from real MLX training on a tiny config and dataset."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from hrm_datasets.build_sudoku import build_sudoku
from hrm_datasets.format import load_split
from hrm_engine.bench import learn as learn_bench
from hrm_engine.config import resolve_config
from hrm_engine.errors import ConfigError, EngineError

TINY = ["global_batch_size=16", "arch.hidden_size=32", "arch.num_heads=2", "arch.H_layers=1", "arch.L_layers=1",
        "arch.halt_max_steps=2", "lr_warmup_steps=2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("learn") / "s4"
    build_sudoku(out, size=4, difficulty="easy", count=64, test_count=24, seed=0)
    return out


def _config(*extra: str) -> dict:
    return resolve_config("hrm-tiny", None, TINY + list(extra))


def test_curve_has_growing_training_time_on_a_grid_and_stops_at_the_budget(data, tmp_path):
    out = tmp_path / "curve.json"
    seen: list[dict] = []

    def on_point(point: dict) -> None:  # the file is complete after every point, not only at the end
        on_disk = learn_bench.read_curve(out)
        seen.append(on_disk)
        assert on_disk["points"][-1] == json.loads(json.dumps(point))

    curve = learn_bench.learn(_config(), data, out, budget_s=2.0, eval_every_s=0.5, on_point=on_point)
    points = curve["points"]
    assert curve["stop_reason"] == "budget" and len(points) >= 2 and len(seen) == len(points)
    times = [p["train_seconds"] for p in points]
    steps = [p["step"] for p in points]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert steps == sorted(steps) and steps[0] >= 1
    for k, t in enumerate(times[:-1], 1):  # evaluations on the grid of eval_every_s, never before it
        assert t >= 0.5 * k
    assert times[-1] >= 2.0 and all(t < 2.0 for t in times[:-1])  # the one at the budget is the last
    for p in points:
        assert 0.0 <= p["exact_accuracy"] <= 1.0 and 0.0 <= p["accuracy"] <= 1.0 and p["eval_seconds"] > 0
    assert curve["eval_seconds"] == pytest.approx(sum(p["eval_seconds"] for p in points))
    assert curve["steps"] == steps[-1] and curve["train_seconds"] == times[-1]
    assert curve["tokens_per_s"] == pytest.approx(steps[-1] * 16 * 16 / times[-1])
    assert curve["data"]["eval_examples"] == 24 and curve["data"]["train_puzzles"] == 64
    assert curve["blas"]["blas"] and curve["machine"]["cpu_count"] >= 1 and curve["parameters"] > 0
    assert learn_bench.read_curve(out) == json.loads(json.dumps(curve))
    assert [p.name for p in tmp_path.iterdir()] == ["curve.json"]  # no temporary file left beside it


def test_evaluation_time_is_kept_off_the_training_clock(data, tmp_path, monkeypatch):
    real = learn_bench._evaluate

    def slow(*args, **kwargs):  # an evaluation that takes at least 0.4 s more
        time.sleep(0.4)
        return real(*args, **kwargs)

    monkeypatch.setattr(learn_bench, "_evaluate", slow)
    wall = time.perf_counter()
    curve = learn_bench.learn(_config(), data, tmp_path / "c.json", budget_s=1.0, eval_every_s=0.3)
    wall = time.perf_counter() - wall
    n = len(curve["points"])
    assert n >= 2 and all(p["eval_seconds"] >= 0.4 for p in curve["points"])
    # had the sleeps been counted as training, training + evaluation would exceed the wall time
    assert curve["train_seconds"] + curve["eval_seconds"] <= wall


def test_target_zero_stops_at_the_first_evaluation(data, tmp_path):
    curve = learn_bench.learn(_config(), data, tmp_path / "c.json", target=0.0, budget_s=60.0, eval_every_s=0.5)
    assert curve["stop_reason"] == "target" and len(curve["points"]) == 1
    assert curve["points"][0]["train_seconds"] >= 0.5 and curve["target"] == 0.0


def test_the_end_of_the_schedule_stops_before_the_budget(data, tmp_path):
    curve = learn_bench.learn(_config("max_steps=3"), data, tmp_path / "c.json", budget_s=600.0, eval_every_s=600.0)
    assert curve["stop_reason"] == "steps" and [p["step"] for p in curve["points"]] == [3]


def test_ctrl_c_keeps_the_points_so_far(data, tmp_path):
    out = tmp_path / "c.json"
    points = []

    def on_step(step: int, _train_s: float) -> None:
        if points and step >= points[0]["step"] + 2:
            raise KeyboardInterrupt

    curve = learn_bench.learn(_config(), data, out, budget_s=600.0, eval_every_s=0.3, on_step=on_step,
                              on_point=points.append)
    assert curve["stop_reason"] == "interrupted" and len(curve["points"]) == 1
    assert learn_bench.read_curve(out)["stop_reason"] == "interrupted"


def test_sigterm_keeps_the_points_so_far_and_says_so(data, tmp_path):
    out = tmp_path / "t.json"
    points = []
    before = signal.getsignal(signal.SIGTERM)

    def on_step(step: int, _train_s: float) -> None:
        if points and step >= points[0]["step"] + 2:
            os.kill(os.getpid(), signal.SIGTERM)  # a real signal, as a scheduler or `timeout` sends it

    curve = learn_bench.learn(_config(), data, out, budget_s=600.0, eval_every_s=0.3, on_step=on_step,
                              on_point=points.append)
    saved = learn_bench.read_curve(out)
    assert curve["stop_reason"] == saved["stop_reason"] == "interrupted"
    assert saved["signal"] == "SIGTERM" and len(saved["points"]) == 1
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the caller's again


def test_a_subset_evaluates_on_the_first_examples_of_the_test_split(data, tmp_path):
    curve = learn_bench.learn(_config("max_steps=2"), data, tmp_path / "c.json", budget_s=60.0, eval_every_s=60.0,
                              eval_examples=10)
    assert curve["data"]["eval_examples"] == 10 and curve["eval_examples"] == 10
    sub, n = learn_bench.eval_subset(data, 10, tmp_path / "sub")
    _, full = load_split(data, "test")
    meta, part = load_split(sub, "test")
    assert n == 10 and meta.total_groups == 10
    np.testing.assert_array_equal(part["all"].inputs, full["all"].inputs[:10])
    np.testing.assert_array_equal(part["all"].labels, full["all"].labels[:10])
    assert not (sub / "train").exists()


@pytest.mark.parametrize("args, word", [((1.5, 1.0, 60.0, None), "--target"), ((-0.1, 1.0, 60.0, None), "--target"),
                                        ((None, 0.0, 60.0, None), "--budget"),
                                        ((None, float("nan"), 60.0, None), "--budget"),
                                        ((None, 1.0, 0.0, None), "--eval-every"), ((None, 1.0, 60.0, 0), "--eval-examples")])
def test_bad_settings_are_refused_by_name(args, word):
    with pytest.raises(ConfigError, match=word):
        learn_bench.check_settings(*args)


def test_read_curve_refuses_what_is_not_a_curve(tmp_path):
    with pytest.raises(EngineError, match="does not exist"):
        learn_bench.read_curve(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(EngineError, match="cannot read"):
        learn_bench.read_curve(bad)
    bad.write_text(json.dumps({"points": []}))
    with pytest.raises(EngineError, match="not a learn curve"):
        learn_bench.read_curve(bad)
    bad.write_text(json.dumps({"format": learn_bench.CURVE_FORMAT, "points": [{"step": 1}]}))
    with pytest.raises(EngineError, match="train_seconds"):
        learn_bench.read_curve(bad)


def test_time_to_levels_is_the_first_point_at_or_above_each_level():
    curve = {"points": [{"train_seconds": 10.0, "step": 5, "exact_accuracy": 0.2},
                        {"train_seconds": 20.0, "step": 9, "exact_accuracy": 0.6},
                        {"train_seconds": 30.0, "step": 14, "exact_accuracy": 0.5}]}
    got = learn_bench.time_to_levels(curve, [0.1, 0.5, 0.6, 0.9])
    assert got == {0.1: {"train_seconds": 10.0, "step": 5}, 0.5: {"train_seconds": 20.0, "step": 9},
                   0.6: {"train_seconds": 20.0, "step": 9}, 0.9: None}
