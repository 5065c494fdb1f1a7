"""The synthetic ARC primitives: each family on a grid worked by hand, signatures, JSON, closure under augmentation."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from hrm_datasets.arc import dihedral
from hrm_datasets.arc_rules import FAMILIES, Part, Rule, fitted_rules, objects, probe_rules
from hrm_datasets.arc_synthetic import draw_task


def g(*rows: str) -> np.ndarray:
    """A grid from strings, '.' the background."""
    return np.array([[0 if ch == "." else int(ch) for ch in row] for row in rows], np.uint8)


def apply(family: str, params: tuple, grid: np.ndarray) -> np.ndarray | None:
    return Part(family, params).apply(grid)


def test_gravity_keeps_each_columns_order():
    grid = g("1..", ".2.", "3..", "...")
    assert np.array_equal(apply("gravity", ("down",), grid), g("...", "...", "1..", "32."))
    assert np.array_equal(apply("gravity", ("right",), grid), g("..1", "..2", "..3", "..."))
    assert np.array_equal(apply("gravity", ("up",), grid), g("12.", "3..", "...", "..."))
    assert np.array_equal(apply("gravity", ("left",), g(".1.2", "....")), g("12..", "...."))


def test_fill_enclosed_fills_closed_boxes_only():
    grid = g("333..", "3.3..", "333..", "..444", "..4.."  )
    assert np.array_equal(apply("fill_enclosed", (7,), grid), g("333..", "373..", "333..", "..444", "..4.."))
    open_box = g("333", "3..", "333")
    assert np.array_equal(apply("fill_enclosed", (7,), open_box), open_box)


def test_object_rules_use_single_colour_4_connected_objects():
    grid = g("11.2", "1..2", "....", "5.22")
    assert sorted(int(m.sum()) for _, m in objects(grid)) == [1, 2, 2, 3]  # the 2s at (0,3),(1,3) and (3,2),(3,3)
    assert np.array_equal(apply("recolour_by_size", ("largest", 9), grid), g("99.2", "9..2", "....", "5.22"))
    assert apply("recolour_by_size", ("smallest", 9), grid) is not None
    assert apply("recolour_by_size", ("largest", 9), g("1.2", "...")) is None  # a tie: not applicable
    assert np.array_equal(apply("recolour_by_size", ("sizes", ((1, 8), (2, 6))), grid), g("11.6", "1..6", "....", "8.66"))
    assert np.array_equal(apply("filter_objects", ("remove", 1), grid), g("11.2", "1..2", "....", "..22"))
    assert np.array_equal(apply("filter_objects", ("keep_largest",), grid), g("11..", "1...", "....", "...."))
    assert np.array_equal(apply("crop_to_object", ("largest",), grid), g("11", "1."))
    assert np.array_equal(apply("crop_to_object", ("all",), g("...", ".1.", "..2")), g("1.", ".2"))
    assert apply("crop_to_object", ("all",), g("...", "...")) is None


def test_geometry_colour_and_resizing_parts():
    grid = g("12", "30")
    assert np.array_equal(apply("rotate", (1,), grid), g("20", "13"))  # numpy's rot90: counter-clockwise
    assert np.array_equal(apply("reflect", ("flip_h",), grid), g("21", "03"))
    assert np.array_equal(apply("reflect", ("anti_transpose",), grid), g("02", "31"))
    assert np.array_equal(apply("colour_map", ((1, 3), (3, 1)), grid), g("32", "10"))
    assert np.array_equal(apply("translate", (1, 0, "wrap"), grid), g("30", "12"))
    assert np.array_equal(apply("translate", (0, -1, "crop"), grid), g("2.", ".."))
    assert np.array_equal(apply("scale", (2,), grid), g("1122", "1122", "3300", "3300"))
    assert np.array_equal(apply("tile", (1, 2), grid), g("1212", "3030"))
    assert np.array_equal(apply("draw_lines", ("down",), g("1..", "...", ".2.", "3..")), g("1..", "1..", "12.", "32."))
    assert np.array_equal(apply("draw_lines", ("left",), g("..1", "2..")), g("111", "2.."))


def test_signature_is_written_in_function_order_and_round_trips_through_json():
    rule = Rule((Part("colour_map", ((1, 3),)), Part("reflect", ("flip_h",))))
    assert rule.signature == "flip_h∘colour_map{1:3}" and rule.family_signature == "reflect∘colour_map"
    assert np.array_equal(rule.apply(g("1.")), g(".3"))  # colours first, then the flip
    import json

    again = Rule.from_json(json.loads(json.dumps(rule.to_json())))
    assert again == rule and hash(again) == hash(rule)


def test_fitted_colour_map_and_size_table():
    pairs = [(g("12", "1."), g("32", "3.")), (g("2.", ".1"), g("2.", ".3"))]
    assert [r.signature for r in fitted_rules(pairs)] == ["colour_map{1:3}"]
    sized = [(g("1.22", "...."), g("5.66", "...."))]
    assert "recolour_by_size{1:5,2:6}" in [r.signature for r in fitted_rules(sized)]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_is_closed_under_the_builders_augmentations(family):
    """The held-out split is over families because an augmented task stays in its family: check it on tasks."""
    probes = probe_rules()
    rng = np.random.default_rng(3)
    for seed in range(3):
        rule, demos, test = draw_task(np.random.default_rng([seed, 11]), (family,), 3, 10, probes, Counter())
        for _ in range(4):
            tid = int(rng.integers(8))
            cmap = np.concatenate([[0], rng.permutation(np.arange(1, 10))]).astype(np.uint8)
            augmented = [(dihedral(cmap[i], tid), dihedral(cmap[o], tid)) for i, o in demos + [test]]
            explaining = [r for r in probes + fitted_rules(augmented) if r.families == (family,)
                          and all(np.array_equal(r.apply(i), o) for i, o in augmented)]
            assert explaining, (rule.signature, tid, cmap.tolist())
