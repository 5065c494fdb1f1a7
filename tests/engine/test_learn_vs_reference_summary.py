"""benchmarks/learn_vs_reference.py's summary over rounds: a round that never reaches a level counts as slower."""

from __future__ import annotations

import importlib.util

from tests.hrm_paths import REPO


def _script():
    spec = importlib.util.spec_from_file_location("learn_vs_reference", REPO / "benchmarks" / "learn_vs_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _curve(points: list[tuple[float, int, float]]) -> dict:
    return {"label": "x", "points": [{"train_seconds": t, "step": s, "exact_accuracy": a} for t, s, a in points],
            "steps_per_s": 9.0, "tokens_per_s": 1.0, "train_seconds": 600.0, "eval_seconds": 30.0}


def test_a_round_that_never_reaches_a_level_is_not_left_out_of_the_median():
    script = _script()
    rounds = [_curve([(180, 1900, 0.59), (540, 5000, 0.78)]),   # 0.75 at 540 s
              _curve([(180, 1800, 0.50), (600, 5200, 0.752)]),  # 0.75 at 600 s
              _curve([(180, 1950, 0.53), (600, 5204, 0.744)])]  # 0.75 never
    row = script.summarise({"hrm-new": rounds}, [0.5, 0.75, 0.9])["hrm-new"]
    assert row["seconds_to"]["0.5"] == 180 and row["step_to"]["0.5"] == 1900
    assert row["seconds_to"]["0.75"] == 600 and row["step_to"]["0.75"] == 5200  # not 570, the two that got there
    assert row["seconds_to"]["0.9"] is None and row["step_to"]["0.9"] is None
    assert row["best_exact_accuracy"] == 0.752
    two = script.summarise({"hrm-new": rounds[1:]}, [0.75])["hrm-new"]  # one of two: the median is not reached
    assert two["seconds_to"]["0.75"] is None
