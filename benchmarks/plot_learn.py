"""Learning curves as a PNG: held-out exact (or token) accuracy against training minutes or steps, one line per file.

    .venv/bin/python benchmarks/plot_learn.py runs/learn/sbs-9x9m-trm/ref-trm-r1.json \
        runs/learn/sbs-9x9m-trm/hrm-trm-r1.json --out docs/results/learn-9x9-trm.png --title "9x9 Sudoku, 1 core"

The files are `hrm bench learn`'s (or benchmarks/learn_vs_reference.py's) curve files; a folder means every
curve file in it. `hrm dashboard --learn` shows the same curves live in a terminal; this is for documents.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MARKERS = "osD^v<>p*"


def curve_files(paths: list[Path]) -> list[Path]:
    """The files named, and the curve files (*.json but summary.json) of the folders named, in order."""
    out: list[Path] = []
    for path in paths:
        out += sorted(p for p in path.glob("*.json") if p.name != "summary.json") if path.is_dir() else [path]
    return out


YLABELS = {"exact_accuracy": "held-out exact accuracy", "accuracy": "held-out token accuracy"}


def plot(curves: list[dict], out: Path, title: str, x: str = "minutes", y: str = "exact_accuracy") -> None:
    """One line per curve, each with its own marker (told apart without colour), written atomically.

    `y` is `exact_accuracy` (the headline) or `accuracy` (per token), which still tells two curves apart while
    neither model solves whole puzzles yet."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(7.5, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, curve in enumerate(curves):
        pts = curve["points"]
        xs = [p["train_seconds"] / 60 for p in pts] if x == "minutes" else [p["step"] for p in pts]
        ax.plot(xs, [p[y] for p in pts], marker=MARKERS[i % len(MARKERS)], markersize=4,
                label=f"{curve['label']} ({curve.get('steps_per_s') or 0:.2f} steps/s)")
    ax.set_xlabel("training minutes (evaluation excluded)" if x == "minutes" else "training steps")
    ax.set_ylabel(YLABELS[y])
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    tmp = out.with_name(out.name + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(tmp, format="png")
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("curves", nargs="+", type=Path, help="curve files or folders of them")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    p.add_argument("--title", default="time to accuracy")
    p.add_argument("--x", choices=("minutes", "steps"), default="minutes")
    p.add_argument("--y", choices=tuple(YLABELS), default="exact_accuracy",
                   help="exact_accuracy (whole puzzle) or accuracy (per token)")
    args = p.parse_args(argv)
    from hrm_engine.errors import HRMError
    from hrm_engine.bench.learn import read_curve

    files = curve_files(args.curves)
    try:
        curves = [read_curve(f) for f in files]
    except HRMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not curves:
        print(f"error: no curve files in {', '.join(map(str, args.curves))}", file=sys.stderr)
        return 2
    plot(curves, args.out, args.title, args.x, args.y)
    print(f"{args.out}: {len(curves)} curves")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
