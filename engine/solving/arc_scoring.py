"""ARC scoring as the reference's arc_eval.ipynb: crop, undo the augmentation, vote, pass@K.

For every test row: crop the input and the predicted canvas, map both back through the inverse of
their version's transform (inverse dihedral, then inverse colour map). Predictions for the same
original test input (same task, same input hash) are pooled across augmented versions and ranked
by votes, ties broken by mean sigmoid(q_halt). A task counts as solved at K when every one of its
test inputs has its true output among the top K; pass@K = solved tasks / tasks.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from hrm_datasets.arc import crop, grid_hash, inverse_transform
from hrm_engine.errors import EngineError

PASS_KS = (1, 2, 10, 100, 1000)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def vote(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[str, int, float]]]:
    """Per (task, original input hash): [(prediction hash, votes, mean q)] best first."""
    pools: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        pools[(row["task"], row["input_hash"])][row["pred_hash"]].append(row["q"])
    ranked = {}
    for key, preds in pools.items():
        items = [(h, len(qs), float(np.mean(qs))) for h, qs in preds.items()]
        ranked[key] = sorted(items, key=lambda t: (-t[1], -t[2]))
    return ranked


def pass_at_k(ranked: dict[tuple[str, str], list[tuple[str, int, float]]], labels: dict[tuple[str, str], str],
              ks: tuple[int, ...] = PASS_KS) -> dict[str, float]:
    """Fraction of tasks whose every test input has its label hash within the top K predictions."""
    tasks: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key in labels:
        tasks[key[0]].append(key)
    result = {}
    for k in ks:
        solved = sum(
            all(labels[key] in [h for h, _, _ in ranked.get(key, [])[:k]] for key in keys) for keys in tasks.values()
        )
        result[str(k)] = solved / max(1, len(tasks))
    return result


def score_arc_predictions(data_root: str | Path, split: str, collected: dict[str, np.ndarray]) -> dict[str, Any]:
    """pass@K per the reference from the rows `evaluate_split(collect=True)` returns."""
    root = Path(data_root)
    try:
        names = json.loads((root / "identifiers.json").read_text())
        transforms = json.loads((root / "arc_transforms.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineError(f"{root} lacks a readable identifiers.json/arc_transforms.json ({exc}); rebuild it with "
                          "`hrm data build arc`") from None
    rows, labels = [], {}
    for inp, lab, pred, q, pid in zip(collected["inputs"], collected["labels"], collected["preds"], collected["q_halt"],
                                      collected["puzzle_identifiers"]):
        if pid == 0:
            continue
        name = names[int(pid)]
        info = transforms.get(name)
        if info is None:
            raise EngineError(f"puzzle {name} is missing from {root}/arc_transforms.json")
        tid, cmap = info["tid"], info["colour_map"]
        orig_input = inverse_transform(crop(inp), tid, cmap)
        input_hash = grid_hash(orig_input)
        if "_" not in name:  # un-augmented rows give the true outputs
            label_tokens = np.where(lab < 0, 0, lab)
            labels[(info["task"], input_hash)] = grid_hash(crop(label_tokens))
        pred_grid = inverse_transform(crop(pred), tid, cmap)
        rows.append({"task": info["task"], "input_hash": input_hash, "pred_hash": grid_hash(pred_grid),
                     "q": float(_sigmoid(np.asarray(q)))})
    ranked = vote(rows)
    scores = pass_at_k(ranked, labels)
    # ARC has no exact verifier; the top candidate's lead in votes is the only evidence of an answer's worth
    margins = [r[0][1] - (r[1][1] if len(r) > 1 else 0) for r in ranked.values() if r]
    return {"tasks": len({t for t, _ in labels}), "test_inputs": len(labels), "rows": len(rows), "pass_at": scores,
            "vote_margin_mean": float(np.mean(margins)) if margins else 0.0}
