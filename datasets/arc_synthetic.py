"""The synthetic ARC family (issue 31): tasks whose hidden rule is the task, with held-out combinations.

Each task draws a rule from `arc_rules` (one family's part, or two families' parts composed), then
3..5 demonstration pairs and one test pair of input grids suited to the rule (`arc_inputs`), and is
kept only if its demonstrations pin the rule down (`rejection_reason`). Training tasks use single
families and the TRAIN_PAIRS compositions; held-out tasks use only HELD_OUT_PAIRS, compositions no
training task uses in either order, fixed across seeds so that a model trained on one seed's family
has seen none of another seed's held-out combinations either. `held_out_check` verifies it on the
tasks themselves. Everything is drawn from `seed`: the same seed gives the same tasks, byte for byte.

The tasks are ARC JSON (`{"train": [...], "test": [...]}`); `build_synthetic_arc` writes them under
`<output>/tasks/training` and `<output>/tasks/evaluation` with `<output>/tasks/rules.json` (every
task's rule) and converts them with the ARC builder (`build_arc`), so
`hrm data build arc --source-dir <output>/tasks` rebuilds the same dataset. docs/arc-synthetic.md
says why the family looks the way it does.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hrm_datasets.arc import CANVAS, grid_hash
from hrm_datasets.arc_inputs import STYLE_ORDER, make_input, palette_for
from hrm_datasets.arc_rules import FAMILIES, Grid, Part, Rule, fitted_rules, probe_rules
from hrm_datasets.errors import DatasetError

TRAIN_FOLDER, TEST_FOLDER = "training", "evaluation"  # the ARC-AGI layout: build_arc's test split = evaluation
DEMOS = (3, 5)  # demonstration pairs per task, inclusive
ATTEMPTS = 300  # rules drawn per task before moving on to the next combination in the plan
INPUT_TRIES = 12  # input grids drawn per pair before the rule is redrawn
DUPLICATE_REDRAWS = 20  # held-out draws per combination before a repeated rule moves on to the next
FORMAT_VERSION = 1
MAX_TRAIN_PAIRS = 200  # --train-pairs' bound: a task file stays small, and a rule on 3x3 grids runs out of inputs

Pair = tuple[Grid, Grid]

RESIZERS = frozenset(f.name for f in FAMILIES.values() if f.resizes)


def _key(*families: str) -> tuple[str, ...]:
    return tuple(sorted(families))


# Compositions of two families. Left out: two parts of one family, or a rotation and a reflection (each
# collapses into one part), and two resizing parts (no room on a 10x10 canvas). Every other pair yields
# identifiable tasks within a few draws (tests/datasets/test_arc_synthetic.py draws each).
VALID_PAIRS = tuple(sorted(_key(a, b) for a, b in itertools.combinations(FAMILIES, 2)
                           if _key(a, b) != _key("rotate", "reflect") and not (a in RESIZERS and b in RESIZERS)))
# Held out: every family keeps at least one training composition, each held-out pair joins parts the
# model met in training, and the held-out pairs mix geometry, colour, object and resizing families.
HELD_OUT_PAIRS: frozenset[tuple[str, ...]] = frozenset(_key(a, b) for a, b in (
    ("rotate", "colour_map"), ("reflect", "gravity"), ("translate", "fill_enclosed"), ("gravity", "colour_map"),
    ("reflect", "recolour_by_size"), ("rotate", "filter_objects"), ("draw_lines", "colour_map"),
    ("fill_enclosed", "scale"), ("recolour_by_size", "crop_to_object"), ("translate", "tile"),
    ("draw_lines", "reflect"), ("gravity", "filter_objects"),
))
TRAIN_PAIRS = tuple(p for p in VALID_PAIRS if p not in HELD_OUT_PAIRS)


@dataclass
class SyntheticTask:
    """One generated task: its name, split (train | test), hidden rule, demonstrations and test pair."""

    name: str
    split: str
    rule: Rule
    demos: list[Pair]
    test: Pair

    @property
    def folder(self) -> str:
        return TRAIN_FOLDER if self.split == "train" else TEST_FOLDER

    def to_arc_json(self) -> dict[str, list[dict[str, list]]]:
        pair = lambda i, o: {"input": i.tolist(), "output": o.tolist()}  # noqa: E731
        return {"train": [pair(i, o) for i, o in self.demos], "test": [pair(*self.test)]}

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "split": self.split, "folder": self.folder, "rule": self.rule.signature,
                "families": self.rule.family_signature, "parts": self.rule.to_json(), "demos": len(self.demos)}


def family_key(rule: Rule) -> tuple[str, ...]:
    """A rule's families as an unordered combination: what the held-out split is made over."""
    return _key(*rule.families)


# --- checking a drawn task ---------------------------------------------------------------------------------------


def _fits(rule: Rule, pairs: list[Pair]) -> bool:
    """Whether the rule maps every input to its output (most alternatives fail on the first pair)."""
    for inp, out in pairs:
        got = rule.apply(inp)
        if got is None or not np.array_equal(got, out):
            return False
    return True


def _variants(rule: Rule) -> list[Rule]:
    """The rule with one part's parameters changed, and a composition in the other order."""
    found = []
    for k, part in enumerate(rule.parts):
        for params in FAMILIES[part.family].probes:
            if params != part.params:
                found.append(Rule(rule.parts[:k] + (Part(part.family, params),) + rule.parts[k + 1:]))
    if len(rule.parts) == 2 and not FAMILIES[rule.parts[1].family].resizes:
        found.append(Rule(rule.parts[::-1]))
    return found


def rejection_reason(rule: Rule, demos: list[Pair], test: Pair, probes: list[Rule]) -> str | None:
    """Why the demonstrations fail to pin the rule down, or None for a task worth keeping.

    - every pair changes its input, and no two inputs are equal;
    - the test input uses only colours some demonstration input shows (a colour map is then readable);
    - each part of a composition is needed: without it, some demonstration comes out wrong;
    - no single part (every enumerated parameterisation, plus colour maps and size tables fitted to the
      demonstrations) explains the demonstrations unless it is the rule's own family, and then it must
      give the same test output; likewise a composition with one part's parameters changed, or in the
      other order, must answer the test the same way if it fits the demonstrations.
    """
    pairs = demos + [test]
    if any(i.shape == o.shape and np.array_equal(i, o) for i, o in pairs):
        return "a pair whose output equals its input"
    if len({grid_hash(i) for i, _ in pairs}) < len(pairs):
        return "two pairs with the same input"
    if not set(np.unique(test[0]).tolist()) <= set(np.unique(np.concatenate([i.ravel() for i, _ in demos])).tolist()):
        return "the test input has a colour no demonstration shows"
    if len(rule.parts) > 1:
        for k in range(len(rule.parts)):
            if _fits(rule.without(k), demos):
                return "a part the demonstrations do not need"
    for alt in probes + fitted_rules(demos):
        if alt.signature == rule.signature or not _fits(alt, demos):
            continue
        if len(rule.parts) > 1 or alt.families != rule.families:
            return "a single part of another family explains the demonstrations"
        answer = alt.apply(test[0])
        if answer is None or not np.array_equal(answer, test[1]):
            return "another parameterisation fits the demonstrations but answers the test differently"
    if len(rule.parts) > 1:
        for alt in _variants(rule):
            if _fits(alt, demos):
                answer = alt.apply(test[0])
                if answer is None or not np.array_equal(answer, test[1]):
                    return "a variant of the composition fits the demonstrations but answers the test differently"
    return None


# --- drawing tasks -----------------------------------------------------------------------------------------------


def draw_rule(rng: np.random.Generator, families: tuple[str, ...], palette: tuple[int, ...]) -> Rule:
    """Parts for the families, in a random order except that a resizing part comes last."""
    order = [families[int(i)] for i in rng.permutation(len(families))]
    order.sort(key=lambda f: FAMILIES[f].resizes)
    return Rule(tuple(Part(f, FAMILIES[f].sample(rng, palette)) for f in order))


def _input_bounds(rule: Rule, max_size: int) -> tuple[int, int]:
    """The largest input height and width whose output still fits `max_size`."""
    rows = cols = 1
    for part in rule.parts:
        r, c = FAMILIES[part.family].shrink(part.params)
        rows, cols = rows * r, cols * c
    return max_size // rows, max_size // cols


def draw_task(rng: np.random.Generator, families: tuple[str, ...], min_size: int, max_size: int,
              probes: list[Rule], rejections: Counter,
              demos: tuple[int, int] = DEMOS) -> tuple[Rule, list[Pair], Pair] | None:
    """A rule of these families with demonstrations that pin it down, or None after ATTEMPTS tries.

    `demos` bounds the demonstration count (inclusive); a rule with fewer distinct inputs than asked for
    (small grids, few cells it changes) keeps what it has, if that is at least DEMOS[0].
    """
    style = max((FAMILIES[f].style for f in families), key=STYLE_ORDER.index)
    for _ in range(ATTEMPTS):
        palette = palette_for(rng, style)
        rule = draw_rule(rng, families, palette)
        max_h, max_w = _input_bounds(rule, max_size)
        if max_h < min_size or max_w < min_size:
            rejections["inputs cannot be that small"] += 1
            continue
        fixed = rng.random() < 0.3  # some tasks keep one grid size, as many ARC tasks do
        size = (int(rng.integers(min_size, max_h + 1)), int(rng.integers(min_size, max_w + 1)))
        pairs: list[Pair] = []
        for _ in range(int(rng.integers(demos[0], demos[1] + 1)) + 1):
            for _ in range(INPUT_TRIES):
                h, w = size if fixed else (int(rng.integers(min_size, max_h + 1)), int(rng.integers(min_size, max_w + 1)))
                grid = make_input(style, rng, h, w, palette)
                out = rule.apply(grid)
                if (out is not None and out.size and max(out.shape) <= max_size
                        and not (out.shape == grid.shape and np.array_equal(out, grid))
                        and all(not np.array_equal(grid, i) for i, _ in pairs)):
                    pairs.append((grid, out))
                    break
            else:
                break
        if len(pairs) < DEMOS[0] + 1:
            rejections["no input that the rule changes"] += 1
            continue
        reason = rejection_reason(rule, pairs[:-1], pairs[-1], probes)
        if reason is None:
            return rule, pairs[:-1], pairs[-1]
        rejections[reason] += 1
    return None


def combinations(split: str) -> list[tuple[str, ...]]:
    """The family combinations a split draws from: training every single family (listed twice: 24 of its
    74 combinations, so about a third of training tasks are single parts) and the 50 TRAIN_PAIRS; held-out
    only the 12 HELD_OUT_PAIRS."""
    if split == "train":
        return [(f,) for f in FAMILIES] * 2 + list(TRAIN_PAIRS)
    return sorted(HELD_OUT_PAIRS)


def _plan(split: str, count: int, seed: int) -> list[tuple[str, ...]]:
    """Which families each task of a split uses: a seeded round-robin, so every combination gets its share."""
    combos = combinations(split)
    order = np.random.default_rng([seed, 7, 0 if split == "train" else 1]).permutation(len(combos))
    return [combos[order[i % len(combos)]] for i in range(count)]


def _draw_new(rng: np.random.Generator, split: str, families: tuple[str, ...], seen: set[str], min_size: int,
              max_size: int, probes: list[Rule], rejections: Counter,
              skipped: Counter, demos: Callable[[tuple[str, ...]], tuple[int, int]]) -> tuple[Rule, list[Pair], Pair]:
    """A task of the planned families whose rule is not in `seen`; another combination of the split if the
    planned one yields nothing (small grids: a resizing part that cannot fit). `demos(combo)` bounds the
    demonstration count of a task drawn from `combo`."""
    combos = combinations(split)
    start = combos.index(families)
    for combo in combos[start:] + combos[:start]:
        for _ in range(DUPLICATE_REDRAWS):
            drawn = draw_task(rng, combo, min_size, max_size, probes, rejections, demos(combo))
            if drawn is None or drawn[0].signature not in seen:
                break
            rejections["a held-out rule already drawn"] += 1
        if drawn is not None and drawn[0].signature not in seen:
            return drawn
        skipped["+".join(combo)] += 1
    raise DatasetError(f"could not draw a new {split} task from any combination; try other grid sizes")


def parse_train_pairs(text: str | int | None) -> tuple[int | None, dict[str, int]]:
    """`--train-pairs`: "N" or "N,FAMILY=M,...", as (N, {family: M}); one-line DatasetError otherwise.

    The per-family counts let the rules that need many examples to be learnt (flips, rotations,
    translations: docs/test-time-adaptation.md) get them without multiplying every task's pairs.
    """
    if text is None or isinstance(text, int):
        return text, {}
    head, *rest = [t.strip() for t in str(text).split(",")]
    if not head.isdigit():
        raise DatasetError(f"--train-pairs {text!r}: give a count for every training task first, e.g. 16 or "
                           "16,rotate=48,reflect=48")
    by_family: dict[str, int] = {}
    for item in rest:
        name, eq, count = item.partition("=")
        if name not in FAMILIES:
            raise DatasetError(f"--train-pairs: unknown rule family {name!r}; choose from {', '.join(FAMILIES)}")
        if not eq or not count.strip().isdigit():
            raise DatasetError(f"--train-pairs: {item!r} is not FAMILY=COUNT (e.g. rotate=48)")
        by_family[name] = int(count)
    return int(head), by_family  # the counts' range is generate_family's check


def pairs_for(families: tuple[str, ...], train_pairs: int | None, by_family: dict[str, int]) -> int | None:
    """A training task's demonstration count: the largest per-family count when every family of its rule
    has one, else `train_pairs` (None: 3..5)."""
    if by_family and all(f in by_family for f in families):
        return max(by_family[f] for f in families)
    return train_pairs


def generate_family(train_tasks: int, test_tasks: int, seed: int = 0, min_size: int = 3, max_size: int = 10,
                    progress: Callable[[str, int, int], None] | None = None,
                    train_pairs: int | None = None,
                    pairs_by_family: dict[str, int] | None = None) -> tuple[list[SyntheticTask], dict]:
    """All tasks of a family (training first) and a report: rejections by reason, combinations used.

    Task i of a split is drawn from its own generator seeded by (seed, split, i), so a task does not
    depend on how many draws the tasks before it needed. Held-out tasks also differ in rule signature.
    `train_pairs` gives training tasks that many demonstrations instead of 3..5 (more inputs of the same
    rule, so that a model must carry the rule in the task's embedding rather than memorise its pairs);
    held-out tasks keep 3..5, as ARC's. `pairs_by_family` ({family: count}, with `train_pairs` set) gives a
    training task whose rule's families all have a count the largest of them instead (`pairs_for`).
    """
    if train_tasks < 1 or test_tasks < 1:
        raise DatasetError("--train-tasks and --test-tasks must be at least 1")
    pairs_by_family = pairs_by_family or {}
    if pairs_by_family and train_pairs is None:
        raise DatasetError("--train-pairs: per-family counts need a count for every other training task first, "
                           "e.g. 16,rotate=48")
    for count in ([] if train_pairs is None else [train_pairs]) + list(pairs_by_family.values()):
        if not DEMOS[0] <= count <= MAX_TRAIN_PAIRS:
            raise DatasetError(f"--train-pairs {count} must be between {DEMOS[0]} and {MAX_TRAIN_PAIRS}")
    check_sizes(min_size, max_size)
    probes = probe_rules()
    tasks: list[SyntheticTask] = []
    rejections: Counter = Counter()
    skipped: Counter = Counter()
    done, total = 0, train_tasks + test_tasks

    def wanted(combo: tuple[str, ...]) -> tuple[int, int]:
        n = pairs_for(combo, train_pairs, pairs_by_family)
        return (n, n) if n else DEMOS

    for split, count in (("train", train_tasks), ("test", test_tasks)):
        width = max(5, len(str(count - 1)))
        seen: set[str] = set()  # held-out rules drawn so far (training rules may repeat with new grids)
        for i, families in enumerate(_plan(split, count, seed)):
            rng = np.random.default_rng([seed, 0 if split == "train" else 1, i])
            rule, demos, test = _draw_new(rng, split, families, seen, min_size, max_size, probes, rejections, skipped,
                                          wanted if split == "train" else lambda _: DEMOS)
            if split == "test":
                seen.add(rule.signature)
            tasks.append(SyntheticTask(f"syn-{split}-{i:0{width}d}", split, rule, demos, test))
            done += 1
            if progress and (done % 10 == 0 or done == total):
                progress("tasks generated", done, total)
    report = {"rejections": dict(rejections.most_common()), "skipped_combinations": dict(skipped),
              "combinations": {s: dict(Counter("+".join(family_key(t.rule)) for t in tasks if t.split == s))
                               for s in ("train", "test")}}
    return tasks, report


def check_sizes(min_size: int, max_size: int, canvas: int | None = None) -> None:
    """Grid sides the generator can use: boxes and objects need 3x3, ARC stops at 30x30."""
    if min_size < 3:
        raise DatasetError(f"--min-size {min_size} is too small: boxes and objects need grids of at least 3x3")
    if max_size < min_size:
        raise DatasetError(f"--max-size {max_size} is below --min-size {min_size}")
    if max_size > CANVAS:
        raise DatasetError(f"--max-size {max_size} is larger than ARC's {CANVAS}x{CANVAS}")
    if canvas is not None and not max_size <= canvas <= CANVAS:
        raise DatasetError(f"--canvas {canvas} must be between --max-size {max_size} and {CANVAS}")


def held_out_check(tasks: list[SyntheticTask]) -> dict[str, int]:
    """Verify that no held-out task's rule, nor its combination of families, occurs in any training task."""
    train = [t for t in tasks if t.split == "train"]
    test = [t for t in tasks if t.split == "test"]
    train_rules = {t.rule.signature for t in train}
    train_keys = {family_key(t.rule) for t in train}
    leaked = [t.name for t in test if t.rule.signature in train_rules or family_key(t.rule) in train_keys]
    if leaked:
        raise DatasetError(f"held-out tasks {', '.join(leaked[:5])} reuse a training rule or combination")
    return {"test_rules_in_training": 0, "test_combinations_in_training": 0,
            "training_rules": len(train_rules), "test_rules": len({t.rule.signature for t in test}),
            "training_combinations": len(train_keys), "test_combinations": len({family_key(t.rule) for t in test})}


def build_synthetic_arc(output: Path, *, train_tasks: int, test_tasks: int, seed: int = 0, num_aug: int = 0,
                        canvas: int | None = None, eval_demos: str = "exclude", min_size: int = 3, max_size: int = 10,
                        force: bool = False, progress: Callable[[str, int, int], None] | None = None,
                        train_pairs: int | str | None = None, offsets: str = "random") -> dict:
    """Generate a family and build it with the ARC builder; the ARC JSON files and rules.json go inside.

    `canvas` defaults to max_size + 1, the smallest on which every grid keeps its EOS row and column.
    With `train_pairs` (a count, or "N,FAMILY=M,..." as `parse_train_pairs` reads) the training tasks' test
    pairs stay out of training: each is then a new input of a known rule, which is what accuracy on them
    should measure.
    """
    from hrm_datasets.build_arc import build_arc

    started = time.perf_counter()
    canvas = min(max_size + 1, CANVAS) if canvas is None else canvas
    check_sizes(min_size, max_size, canvas)
    train_pairs, by_family = parse_train_pairs(train_pairs)
    tasks, report = generate_family(train_tasks, test_tasks, seed, min_size, max_size, progress, train_pairs,
                                    by_family)
    check = held_out_check(tasks)
    params = {"train_tasks": train_tasks, "test_tasks": test_tasks, "seed": seed, "min_size": min_size,
              "max_size": max_size, "train_pairs": train_pairs,
              **({"train_pairs_by_family": by_family} if by_family else {})}
    rules = {"format": FORMAT_VERSION, "params": params, "signature_order": "function order: f∘g applies g first",
             "held_out_combinations": sorted("+".join(k) for k in HELD_OUT_PAIRS),
             "training_combinations": sorted("+".join(k) for k in TRAIN_PAIRS) + sorted(FAMILIES),
             "held_out_check": check, **report, "tasks": [t.record() for t in tasks]}
    arc_tasks = [(t.folder, t.name, t.to_arc_json()) for t in tasks]  # build_arc writes them under tasks/
    return build_arc(output, source="synthetic", tasks=arc_tasks, num_aug=num_aug, seed=seed, canvas=canvas,
                     eval_demos=eval_demos, force=force, progress=progress,
                     extra_files={"tasks/rules.json": rules}, offsets=offsets,
                     train_tests=train_pairs is None,
                     extra_params={**params, "held_out_check": check}, started=started)
