"""The measurement's plot: test-pair exact accuracy (left) and the best demonstration score found (right)
against evaluations, one line per method with its bootstrap band (drawn headless on matplotlib's Agg
backend, written to a temporary name first)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

COLOURS = {"none": "#999999", "mean": "#666666", "random": "#1f77b4", "bopro": "#d62728", "gradient": "#2ca02c",
           "trained": "#9467bd"}


def plot_curves(result: dict[str, Any], path: Path, title: str = "") -> None:
    """Mean exact accuracy with its 95% interval per method against evaluations 1..N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hrm_datasets.files import remove, writing

    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.0), dpi=120)
    panels = (("exact", "test-pair exact accuracy", (-0.02, 1.02)),
              ("demo_score", "best demonstration score (exact + token)", (0.0, 2.0)))
    for ax, (key, label, ylim) in zip(axes, panels):
        for method, data in result["methods"].items():
            rows = data.get(key)
            if not rows:
                continue
            xs = list(range(1, len(rows) + 1))
            mean, lo, hi = zip(*rows)
            colour = COLOURS.get(method)
            ax.plot(xs, mean, label=method, color=colour,
                    linestyle="--" if method in ("none", "mean", "trained") else "-")
            ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, linewidth=0)
        ax.set_xlabel("model evaluations (a candidate run on all demonstrations)")
        ax.set_ylabel(label)
        ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title or f"{result['tasks']} tasks, mean with 95% bootstrap intervals over tasks", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        with writing(path, tmp):
            fig.savefig(tmp)
            os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    finally:
        plt.close(fig)
