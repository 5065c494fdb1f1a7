"""Copy a synthetic ARC dataset with the tasks of some rule families repeated in its training split.

    .venv/bin/python benchmarks/oversample_rules.py data/arc-syn5 data/arc-syn5-over \
        --families rotate,reflect,translate,gravity --copies 1
    hrm train data/arc-syn5-over --config trm-arc-synthetic epochs=50 eval_interval=50

An experiment for issue 31 (docs/test-time-adaptation.md, grid positions): does the preset learn the rules that
move cells by the grid's size when it sees them more often? Every training group whose task's rule has one of
the families (rules.json's `families`, compositions included) is appended `--copies` more times, under the same
puzzle identifier, so the sampler draws those tasks (1 + copies) times as often and their rows are the same rows.
Test and evaluation splits and the task files are copied unchanged. Scale `epochs` down by the growth in
examples (printed) to keep the preset's number of steps.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from hrm_datasets.format import load_identifiers, load_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a dataset from hrm data build arc --source synthetic")
    parser.add_argument("output", type=Path, help="the copy to write (must not exist)")
    parser.add_argument("--families", required=True, help="comma-separated rule families to repeat")
    parser.add_argument("--copies", type=int, default=1, help="extra copies of each chosen task")
    args = parser.parse_args()
    families = [f for f in args.families.split(",") if f]
    rules = json.loads((args.source / "tasks" / "rules.json").read_text())
    names = load_identifiers(args.source)
    family_of = {t["name"]: t["families"] for t in rules["tasks"]}

    if args.output.exists():
        parser.error(f"{args.output} exists; choose another output folder")
    staging = args.output.with_name(f".{args.output.name}.tmp")  # renamed into place when complete
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(args.source, staging)
    split = staging / "train"
    _, sets = load_split(staging, "train", mmap=False)  # read and checked as the trainer reads them
    arrays = sets["all"]
    a = {"inputs": arrays.inputs, "labels": arrays.labels}
    pi, gi, ids = arrays.puzzle_indices, arrays.group_indices, arrays.puzzle_identifiers
    chosen = [g for g in range(len(gi) - 1)
              if any(f in family_of.get(names[ids[gi[g]]], "") for f in families)]
    inputs, labels, pid, pidx, gidx = [a["inputs"]], [a["labels"]], list(ids), list(pi), list(gi)
    count = len(a["inputs"])
    for _ in range(args.copies):
        for g in chosen:
            for p in range(gi[g], gi[g + 1]):
                inputs.append(a["inputs"][pi[p]:pi[p + 1]])
                labels.append(a["labels"][pi[p]:pi[p + 1]])
                count += int(pi[p + 1] - pi[p])
                pid.append(ids[p])
                pidx.append(count)
            gidx.append(len(pid))
    np.save(split / "all__inputs.npy", np.concatenate(inputs))
    np.save(split / "all__labels.npy", np.concatenate(labels))
    np.save(split / "all__puzzle_identifiers.npy", np.array(pid, ids.dtype))
    np.save(split / "all__puzzle_indices.npy", np.array(pidx, pi.dtype))
    np.save(split / "all__group_indices.npy", np.array(gidx, gi.dtype))
    meta = json.loads((split / "dataset.json").read_text())
    meta.update(total_groups=len(gidx) - 1, mean_puzzle_examples=count / len(pid))
    (split / "dataset.json").write_text(json.dumps(meta, indent=2))
    load_split(staging, "train")  # the copy must pass the same checks
    staging.rename(args.output)
    before = len(a["inputs"])
    print(f"{len(chosen)} of {len(gi) - 1} tasks repeated {args.copies}x: {before} -> {count} training examples "
          f"({count / before:.3f}x; divide epochs by that to keep the steps)")


if __name__ == "__main__":
    main()
