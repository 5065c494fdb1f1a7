"""Sandbox start-up cost before and after a change, side by side in one run (alternating rounds).

    .venv/bin/python benchmarks/sandbox_startup.py --before f6266cf --runs 20

`--before REV` loads agent/sandbox.py as it was at that git revision (the audit-hook sandbox before the
OS boundary) and times it beside every mode of the current one (`hrm bench sandbox` without the old one).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hrm_agent.sandbox_bench import measure

ROOT = Path(__file__).resolve().parents[1]


def load_old(rev: str):
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:agent/sandbox.py"], capture_output=True,
                            text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_sandbox.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_sandbox", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_sandbox"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="f6266cf", help="git revision of the old sandbox")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    old = load_old(args.before)
    extra = {f"before ({args.before})": lambda: old.run_code("RESULT = 1")}
    print(json.dumps(measure(args.runs, extra=extra), indent=2))


if __name__ == "__main__":
    main()
