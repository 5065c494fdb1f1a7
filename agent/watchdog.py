"""The run's wall budget covers the agent's own work too: a step that does not return is ended from outside.

Every model call and code run is held to the run's deadline already; this is the backstop for work in the
agent's own process (parsing a reply, judging an answer) that might not return. A watchdog thread waits
for the run until its deadline plus `grace_s`; if the run has not finished by then, it calls `on_hang`
(which writes the verdict `timeout`, the trace's last events and result.json, and returns False when the
run finished meanwhile) and, with `hard_exit`, ends the process with exit status 1 after flushing stdout
and stderr, whatever the stuck step is doing.

A step stuck in C code that holds the GIL stops every Python thread, this one included. For that case
`hard_exit` also arms faulthandler's C-level timer `hard_s` later, which needs no GIL: it writes the
threads' stacks to `<run>/watchdog-stacks.txt` and exits with status 1 (no result.json then; the parsers
are linear-time so that this stays a theoretical case).
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

GRACE_S = 4.0  # after the deadline: a code run still stopping (drain, cgroup clean-up) finishes within it
HARD_S = 3.0  # after that: the C-level exit, for a step that holds the GIL


class Watchdog:
    """Use as a context manager around the run's steps; `finished()` when the run has ended normally."""

    def __init__(self, deadline: float, on_hang: Callable[[], bool], *, grace_s: float = GRACE_S,
                 hard_exit: bool = False, hard_s: float = HARD_S, stacks: Path | None = None) -> None:
        self.deadline, self.grace_s, self.hard_s = deadline, grace_s, hard_s
        self.on_hang, self.hard_exit, self.stacks = on_hang, hard_exit, stacks
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="hrm-run-watchdog", daemon=True)
        self._stacks_file: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> Watchdog:
        if self.hard_exit:
            self._arm_faulthandler()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finished()

    def finished(self) -> None:
        """The run ended (or was interrupted): nothing more to watch."""
        self._done.set()
        self._disarm()

    def _disarm(self) -> None:
        """The C-level timer cancelled and its (empty) stacks file removed; once, from either thread."""
        with self._lock:
            if self._stacks_file is None:
                return
            faulthandler.cancel_dump_traceback_later()
            self._stacks_file.close()
            self._stacks_file = None
        if self.stacks is not None:
            self.stacks.unlink(missing_ok=True)

    def _arm_faulthandler(self) -> None:
        if self.stacks is None:
            return
        try:
            self._stacks_file = open(self.stacks, "w", encoding="utf-8")  # noqa: SIM115 - faulthandler keeps it
        except OSError:
            return
        left = max(self.deadline - time.monotonic(), 0.0) + self.grace_s + self.hard_s
        faulthandler.dump_traceback_later(left, exit=True, file=self._stacks_file)

    def _watch(self) -> None:
        if self._done.wait(max(self.deadline - time.monotonic(), 0.0) + self.grace_s):
            return
        ended = True
        try:
            ended = self.on_hang()
        finally:
            if self.hard_exit and ended:
                self._disarm()
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except (OSError, ValueError):
                        pass
                os._exit(1)
