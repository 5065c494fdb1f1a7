"""The synthetic ARC family: seeded, every pair obeys its rule, held-out combinations unseen, degenerate tasks refused,
and the dataset is the ARC builder's conversion of the ARC JSON files written beside it."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from hrm_datasets.arc import crop
from hrm_datasets.arc_rules import Part, Rule, probe_rules
from hrm_datasets.arc_synthetic import (HELD_OUT_PAIRS, TRAIN_PAIRS, VALID_PAIRS, build_synthetic_arc, draw_task,
                                        family_key, generate_family, held_out_check, parse_train_pairs,
                                        rejection_reason)
from hrm_datasets.build_arc import build_arc
from hrm_datasets.errors import DatasetError
from hrm_datasets.format import load_identifiers, load_split


def g(*rows: str) -> np.ndarray:
    return np.array([[0 if ch == "." else int(ch) for ch in row] for row in rows], np.uint8)


@pytest.fixture(scope="module")
def family():
    return generate_family(24, 12, seed=5)


def _as_json(tasks) -> str:
    return json.dumps([(t.name, t.record(), t.to_arc_json()) for t in tasks])


def test_the_same_seed_gives_the_same_tasks_and_another_seed_others(family):
    tasks, report = family
    again, again_report = generate_family(24, 12, seed=5)
    assert _as_json(again) == _as_json(tasks) and again_report == report
    other, _ = generate_family(24, 12, seed=6)
    assert _as_json(other) != _as_json(tasks)
    # task i is drawn from its own generator: fewer tasks are a prefix of more
    fewer, _ = generate_family(6, 3, seed=5)
    assert _as_json(fewer) == _as_json([t for t in tasks if t.split == "train"][:6] +
                                       [t for t in tasks if t.split == "test"][:3])


def test_every_pair_obeys_its_rule_and_no_task_is_degenerate(family):
    tasks, _ = family
    probes = probe_rules()
    assert [t.split for t in tasks] == ["train"] * 24 + ["test"] * 12
    for task in tasks:
        pairs = task.demos + [task.test]
        assert 3 <= len(task.demos) <= 5
        for inp, out in pairs:
            assert np.array_equal(task.rule.apply(inp), out), task.name
            assert not (inp.shape == out.shape and np.array_equal(inp, out)), task.name
            for grid in (inp, out):
                assert max(grid.shape) <= 10 and min(grid.shape) >= 1 and grid.max() <= 9
            assert min(inp.shape) >= 3
        assert len({i.tobytes() + bytes(i.shape) for i, _ in pairs}) == len(pairs)
        assert rejection_reason(task.rule, task.demos, task.test, probes) is None
        assert 1 <= len(task.rule.parts) <= 2


def test_held_out_tasks_use_only_held_out_combinations(family):
    tasks, _ = family
    train = [t for t in tasks if t.split == "train"]
    test = [t for t in tasks if t.split == "test"]
    assert {family_key(t.rule) for t in test} <= HELD_OUT_PAIRS and len({family_key(t.rule) for t in test}) == 12
    assert not {family_key(t.rule) for t in train} & HELD_OUT_PAIRS
    assert {t.rule.signature for t in test}.isdisjoint(t.rule.signature for t in train)
    assert len({t.rule.signature for t in test}) == len(test)  # held-out rules are all different
    assert any(len(t.rule.parts) == 1 for t in train) and any(len(t.rule.parts) == 2 for t in train)
    check = held_out_check(tasks)
    assert check["test_rules_in_training"] == 0 and check["test_combinations"] == 12
    # the check itself catches a leak
    leaked = tasks + [type(test[0])("syn-train-leak", "train", test[0].rule, test[0].demos, test[0].test)]
    with pytest.raises(DatasetError, match="reuse a training rule"):
        held_out_check(leaked)


def test_split_leaves_every_family_in_training_compositions():
    assert set(TRAIN_PAIRS) | HELD_OUT_PAIRS == set(VALID_PAIRS) and not set(TRAIN_PAIRS) & HELD_OUT_PAIRS
    families = {f for pair in VALID_PAIRS for f in pair}
    assert families == {f for pair in TRAIN_PAIRS for f in pair} == {f for pair in HELD_OUT_PAIRS for f in pair}


@pytest.mark.parametrize("pair", VALID_PAIRS, ids="+".join)
def test_every_composition_yields_a_task(pair):
    drawn = draw_task(np.random.default_rng([1, len(pair[0])]), pair, 3, 10, probe_rules(), Counter())
    assert drawn is not None and family_key(drawn[0]) == pair


def test_degenerate_tasks_are_refused():
    probes = probe_rules()
    flip = Rule((Part("reflect", ("flip_h",)),))
    sym = [(g("1.1", "222"), g("1.1", "222")), (g("12", "34"), g("21", "43")), (g("3..", "..."), g("..3", "..."))]
    assert rejection_reason(flip, sym[:2], sym[2], probes) == "a pair whose output equals its input"
    same = [(g("12", "34"), g("21", "43")), (g("12", "34"), g("21", "43")), (g("3..", "..."), g("..3", "..."))]
    assert rejection_reason(flip, same[:2], same[2], probes) == "two pairs with the same input"
    new_colour = [(g("12", "..", ".."), g("21", "..", "..")), (g("1..", "..."), g("..1", "...")),
                  (g("5..", "..."), g("..5", "..."))]
    assert "colour no demonstration shows" in rejection_reason(flip, new_colour[:2], new_colour[2], probes)
    # colours 5 never occur: the colour map part is invisible
    fall = Rule((Part("gravity", ("down",)), Part("colour_map", ((5, 6),))))
    demos = [(g("1..", "...", "..."), g("...", "...", "1..")), (g(".2.", ".1.", "..."), g("...", ".2.", ".1.")),
             (g("..1", "...", "..."), g("...", "...", "..1"))]
    assert rejection_reason(fall, demos[:2], demos[2], probes) == "a part the demonstrations do not need"
    # every cell sits one row above the bottom: moving everything down one row explains it as well
    gravity = Rule((Part("gravity", ("down",)),))
    shallow = [(g("...", "1.2", "..."), g("...", "...", "1.2")), (g("...", ".1.", "..."), g("...", "...", ".1.")),
               (g("1..", "...", "..."), g("...", "...", "1.."))]
    assert rejection_reason(gravity, shallow[:2], shallow[2], probes) == \
        "a single part of another family explains the demonstrations"


def test_bad_counts_and_sizes_are_refused():
    with pytest.raises(DatasetError, match="at least 1"):
        generate_family(0, 3)
    with pytest.raises(DatasetError, match="--max-size 2 is below"):
        generate_family(3, 3, max_size=2)
    with pytest.raises(DatasetError, match="--min-size 1 is too small"):
        generate_family(3, 3, min_size=1)


def _arrays(root, split):
    _, sets = load_split(root, split)
    return {k: np.asarray(getattr(sets["all"], k)) for k in
            ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")}


def test_build_keeps_held_out_tasks_out_of_training_and_matches_the_arc_builder(tmp_path):
    out = tmp_path / "syn"
    record = build_synthetic_arc(out, train_tasks=10, test_tasks=4, seed=2, num_aug=2)
    assert record["grid"] == [11, 11] and record["params"]["eval_demos"] == "exclude"
    meta, _ = load_split(out, "train")
    assert meta.seq_len == 121 and meta.vocab_size == 12
    rules = json.loads((out / "tasks" / "rules.json").read_text())
    assert rules["held_out_check"]["test_rules_in_training"] == 0
    names = load_identifiers(out)
    transforms = json.loads((out / "arc_transforms.json").read_text())
    train, test = _arrays(out, "train"), _arrays(out, "test")
    train_tasks = {transforms[names[i]]["task"] for i in train["puzzle_identifiers"]}
    test_tasks = {transforms[names[i]]["task"] for i in test["puzzle_identifiers"]}
    by_name = {t["name"]: t for t in rules["tasks"]}
    assert train_tasks == {n for n, t in by_name.items() if t["split"] == "train"}
    assert test_tasks == {n for n, t in by_name.items() if t["split"] == "test"} and not train_tasks & test_tasks
    assert len(test["inputs"]) == 4  # one test pair per held-out task, not augmented
    assert len(set(train["puzzle_identifiers"].tolist())) == 10 * 3  # training tasks: original + 2 versions
    # the ARC JSON files hold the pairs, and each one obeys the rule recorded in rules.json
    for name, info in by_name.items():
        task = json.loads((out / "tasks" / info["folder"] / f"{name}.json").read_text())
        rule = Rule.from_json(info["parts"])
        assert rule.signature == info["rule"] and len(task["train"]) == info["demos"] and len(task["test"]) == 1
        for pair in task["train"] + task["test"]:
            assert rule.apply(np.array(pair["input"], np.uint8)).tolist() == pair["output"]
        if info["split"] == "test":
            row = int(np.nonzero([transforms[names[i]]["task"] == name for i in test["puzzle_identifiers"]])[0][0])
            assert crop(test["inputs"][row]).tolist() == task["test"][0]["input"]
            assert crop(test["labels"][row]).tolist() == task["test"][0]["output"]
    # the ARC builder, reading those files, writes the very same dataset
    build_arc(tmp_path / "again", source_dirs=[out / "tasks"], num_aug=2, seed=2, canvas=11, eval_demos="exclude")
    for split in ("train", "test"):
        again = _arrays(tmp_path / "again", split)
        assert all(np.array_equal(again[k], v) for k, v in _arrays(out, split).items())
    assert load_identifiers(tmp_path / "again") == names


def test_reference_mode_trains_on_held_out_demonstrations(tmp_path):
    build_synthetic_arc(tmp_path / "ref", train_tasks=4, test_tasks=2, seed=0, eval_demos="train")
    names = load_identifiers(tmp_path / "ref")
    train, test = _arrays(tmp_path / "ref", "train"), _arrays(tmp_path / "ref", "test")
    held_out = {names[i] for i in test["puzzle_identifiers"]}
    assert held_out <= {names[i] for i in train["puzzle_identifiers"]}  # their demonstrations, under their own id


def test_train_pairs_give_training_tasks_more_inputs_and_keep_their_test_pairs_out(tmp_path):
    out = tmp_path / "many"
    record = build_synthetic_arc(out, train_tasks=6, test_tasks=3, seed=3, max_size=5, train_pairs=12,
                                 offsets="origin")
    assert record["params"]["train_pairs"] == 12 and record["params"]["offsets"] == "origin"
    rules = json.loads((out / "tasks" / "rules.json").read_text())
    names = load_identifiers(out)
    train = _arrays(out, "train")
    for info in rules["tasks"]:
        task = json.loads((out / "tasks" / info["folder"] / f"{info['name']}.json").read_text())
        rule = Rule.from_json(info["parts"])
        for pair in task["train"] + task["test"]:
            assert rule.apply(np.array(pair["input"], np.uint8)).tolist() == pair["output"]
        if info["split"] == "test":
            assert 3 <= len(task["train"]) <= 5  # held-out tasks keep ARC's few demonstrations
            continue
        assert 4 <= len(task["train"]) <= 12 and len(task["train"]) == info["demos"]
        pid = names.index(info["name"])
        rows = [r for p, (a, b) in enumerate(zip(train["puzzle_indices"][:-1], train["puzzle_indices"][1:]))
                if train["puzzle_identifiers"][p] == pid for r in range(a, b)]
        stored = [crop(train["inputs"][r]).tolist() for r in rows]
        # every demonstration, each at the canvas origin; the test pair is not trained on
        assert stored == [p["input"] for p in task["train"]]
        assert task["test"][0]["input"] not in stored
    assert sum(info["demos"] for info in rules["tasks"] if info["split"] == "train") > 6 * 8


def test_random_offsets_move_training_pairs_and_origin_keeps_them_put(tmp_path):
    kept = build_synthetic_arc(tmp_path / "o", train_tasks=5, test_tasks=2, seed=1, max_size=5, train_pairs=8,
                               offsets="origin")
    moved = build_synthetic_arc(tmp_path / "r", train_tasks=5, test_tasks=2, seed=1, max_size=5, train_pairs=8)
    assert kept["params"]["offsets"] == "origin" and moved["params"]["offsets"] == "random"

    def at_origin(x: np.ndarray) -> np.ndarray:  # a grid's top-left cell is never padding
        return x.reshape(-1, 6, 6)[:, 0, 0] != 0

    assert at_origin(_arrays(tmp_path / "o", "train")["inputs"]).all()
    assert not at_origin(_arrays(tmp_path / "r", "train")["inputs"]).all()
    with pytest.raises(DatasetError, match="--train-pairs 500 must be between"):
        generate_family(3, 3, train_pairs=500)


def test_per_family_train_pairs_go_to_tasks_whose_families_all_have_a_count(tmp_path):
    plain = generate_family(40, 2, seed=2, max_size=5, train_pairs=6)[0]
    tasks = generate_family(40, 2, seed=2, max_size=5, train_pairs=6, pairs_by_family={"rotate": 9, "gravity": 11})[0]
    named = 0
    for before, task in zip(plain, tasks):
        if task.split == "test":
            assert 3 <= len(task.demos) <= 5
            continue
        families = set(task.rule.families)
        if families <= {"rotate", "gravity"}:
            named += 1
            assert len(task.demos) == (11 if "gravity" in families else 9), task.rule.signature
        else:  # untouched: the same task, pair for pair, as without the per-family counts
            assert len(task.demos) == 6 and task.rule.signature == before.rule.signature
            assert all(np.array_equal(a[0], b[0]) for a, b in zip(task.demos, before.demos))
    assert named >= 2
    record = build_synthetic_arc(tmp_path / "d", train_tasks=8, test_tasks=2, seed=2, max_size=5,
                                 train_pairs="6,rotate=9", offsets="origin")
    assert record["params"]["train_pairs"] == 6 and record["params"]["train_pairs_by_family"] == {"rotate": 9}


@pytest.mark.parametrize("text, message", [
    ("rotate=48", "give a count for every training task first"),
    ("16,spin=3", "unknown rule family 'spin'"),
    ("16,rotate", "'rotate' is not FAMILY=COUNT"),
    ("16,rotate=x", "'rotate=x' is not FAMILY=COUNT"),
])
def test_bad_per_family_train_pairs_are_named(text, message):
    with pytest.raises(DatasetError, match=message):
        parse_train_pairs(text)


def test_per_family_counts_are_bounded_like_the_plain_count():
    assert parse_train_pairs("16, rotate=48") == (16, {"rotate": 48})
    with pytest.raises(DatasetError, match="--train-pairs 500 must be between"):
        generate_family(3, 3, train_pairs=16, pairs_by_family={"rotate": 500})
