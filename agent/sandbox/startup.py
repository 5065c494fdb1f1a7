"""Start-up cost of one sandboxed code execution, per isolation mode (`hrm bench sandbox`).

Each round runs a trivial program (`RESULT = 1`) once per mode, alternating the modes so that a
change in the machine's load hits every mode alike; the figure is the median wall time of a whole
`run_code` call, i.e. what one solver step pays before its code does anything.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

from hrm_agent.sandbox.execute import SandboxLimits, isolation, isolation_for, run_code


def modes() -> dict[str, SandboxLimits]:
    """The modes this machine can run, by name (modes.py): the OS boundary where it exists, and the
    weak process mode."""
    out = {}
    if isolation().strong:
        out[isolation_for(SandboxLimits()).mode] = SandboxLimits()
    out["process (weak)"] = SandboxLimits(isolation="process", allow_weak=True)
    return out


def measure(runs: int, code: str = "RESULT = 1",
            extra: dict[str, Callable[[], object]] | None = None) -> dict[str, dict[str, float]]:
    """{mode: {median_ms, min_ms, max_ms}} over `runs` alternating rounds (one warm-up round first)."""
    calls: dict[str, Callable[[], object]] = {name: (lambda lim=lim: run_code(code, limits=lim))
                                              for name, lim in modes().items()}
    calls.update(extra or {})
    times: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(runs + 1):
        for name, call in calls.items():
            t0 = time.perf_counter()
            res = call()
            elapsed = time.perf_counter() - t0
            if getattr(res, "exit_reason", "ok") != "ok":
                raise RuntimeError(f"{name}: {res.exit_reason}: {res.error}")
            if round_:
                times[name].append(elapsed * 1000)
    return {name: {"median_ms": round(statistics.median(t), 1), "min_ms": round(min(t), 1),
                   "max_ms": round(max(t), 1)} for name, t in times.items()}
