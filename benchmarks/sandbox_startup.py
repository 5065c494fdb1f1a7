"""Sandbox start-up cost before and after a change, side by side in one run (alternating rounds).

    .venv/bin/python benchmarks/sandbox_startup.py --before 000fc67 --runs 20

`--before REV` exports hrm's packages as they were at that git revision (git archive, nothing in the
checkout changes) and installs both that tree and this checkout the same way, in two throwaway
virtualenvs holding only a copy of this checkout's editable-install finder pointed at each tree. A
worker per tree then times `run_code("RESULT = 1")` in its own process, and the rounds alternate
between them so that a change in the machine's load hits both alike. Same interpreter, same
site-packages: the difference is the sandbox's code. Without `--before`, every mode of the current
sandbox in this process (`hrm bench sandbox`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER = """
import sys, time
try:
    from hrm_agent.sandbox.execute import run_code
except ImportError:  # a revision from before agent/sandbox/ (issue 30)
    from hrm_agent.sandbox import run_code
for line in sys.stdin:
    t0 = time.perf_counter()
    res = run_code("RESULT = 1")
    ms = (time.perf_counter() - t0) * 1000
    print(ms if res.exit_reason == "ok" else f"error {res.exit_reason}: {res.error} {res.stderr[-300:]!r}",
          flush=True)
"""


def _finder() -> tuple[Path, Path, Path]:
    """(the .pth, the finder module, the checkout they point at) of this editable install."""
    site = Path(sysconfig.get_path("purelib"))
    finders = sorted(site.glob("__editable___hrm_*_finder.py"))
    pths = sorted(site.glob("__editable__.hrm-*.pth"))
    spec = importlib.util.find_spec("hrm_agent")
    if not finders or not pths or spec is None or not spec.submodule_search_locations:
        sys.exit("error: --before needs hrm installed editable (pip install -e .), as `make setup` does")
    return pths[0], finders[0], Path(spec.submodule_search_locations[0]).parent


def _venv(where: Path, tree: Path) -> str:
    """A virtualenv whose only package is hrm from `tree`; returns its interpreter."""
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(where)],
                   check=True)
    pth, finder, checkout = _finder()
    site = Path(subprocess.run([str(where / "bin" / "python"), "-c", "import sysconfig; "
                                "print(sysconfig.get_path('purelib'))"], capture_output=True, text=True,
                               check=True).stdout.strip())
    shutil.copy(pth, site / pth.name)
    (site / finder.name).write_text(finder.read_text().replace(repr(str(checkout))[1:-1], str(tree)))
    return str(where / "bin" / "python")


def _export(rev: str, where: Path) -> Path:
    where.mkdir()
    archive = subprocess.run(["git", "-c", f"safe.directory={ROOT}", "-C", str(ROOT), "archive", rev, "agent", "engine", "datasets", "configs",
                              "hrm_cli"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def compare(rev: str, runs: int) -> dict[str, dict[str, float]]:
    """{label: {median_ms, min_ms, max_ms}} for the sandbox at `rev` and in this checkout."""
    tmp = Path(tempfile.mkdtemp(prefix="hrm-sandbox-startup-"))
    os.chmod(tmp, 0o755)  # as root the jail runs as nobody, who must read the venvs' files
    try:
        _, _, checkout = _finder()
        pythons = {f"before ({rev})": _venv(tmp / "before-venv", _export(rev, tmp / "before")),
                   "after (this checkout)": _venv(tmp / "after-venv", checkout)}
        workers = {name: subprocess.Popen([py, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True, cwd=tmp) for name, py in pythons.items()}
        times: dict[str, list[float]] = {name: [] for name in workers}
        try:
            for round_ in range(runs + 1):
                for name, worker in workers.items():
                    worker.stdin.write("run\n")
                    worker.stdin.flush()
                    answer = worker.stdout.readline().strip()
                    try:
                        ms = float(answer)
                    except ValueError:
                        sys.exit(f"error: {name}: {answer or 'the worker died'}")
                    if round_:  # the first round warms both up
                        times[name].append(ms)
        finally:
            for worker in workers.values():
                worker.stdin.close()
                worker.wait(timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {name: {"median_ms": round(statistics.median(t), 1), "min_ms": round(min(t), 1),
                   "max_ms": round(max(t), 1)} for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", help="git revision of the sandbox to compare with (e.g. 000fc67)")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    if args.before:
        result = {"isolation": None, "runs": args.runs, "modes": compare(args.before, args.runs)}
    else:
        from hrm_agent.sandbox.startup import measure

        result = {"runs": args.runs, "modes": measure(args.runs)}
    from hrm_agent.sandbox.execute import isolation, isolation_for, SandboxLimits

    result["isolation"] = isolation().detail
    result["mode_after"] = isolation_for(SandboxLimits(allow_weak=True)).mode
    result["user"] = os.geteuid()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
