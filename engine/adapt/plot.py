"""The measurement's plot: test-pair exact accuracy against evaluations, one line per method, with
its bootstrap band (drawn headless on matplotlib's Agg backend, written to a temporary name first)."""

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

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for method, data in result["methods"].items():
        rows = data["exact"]
        xs = list(range(1, len(rows) + 1))
        mean, lo, hi = zip(*rows)
        colour = COLOURS.get(method)
        ax.plot(xs, mean, label=method, color=colour, linestyle="--" if method in ("none", "mean", "trained") else "-")
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, linewidth=0)
    ax.set_xlabel("model evaluations (one = a candidate run on all demonstrations)")
    ax.set_ylabel("test-pair exact accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or f"{result['tasks']} held-out tasks, 95% bootstrap intervals", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
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
