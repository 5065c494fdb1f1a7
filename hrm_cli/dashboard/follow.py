"""Following files that grow: read them in a thread, apply what was read on the UI thread.

Parsing a large metrics file takes seconds; doing it in a worker thread, in chunks, keeps the UI
answering keys meanwhile and lets the plots fill in progressively.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.worker import get_current_worker


class FollowingScreen(Screen):
    """A screen that polls its model every `app.refresh_s` seconds.

    Subclasses implement `collect()` (worker thread: read, return `(payload, more)`) and
    `apply(payload)` (UI thread). `loaded` turns true once the files were read to their end.
    `collect` must not touch widgets' geometry (`size`, `region`): asking for it from another thread
    makes Textual lay the screen out there. Record what it needs on the UI thread (`on_resize`).
    """

    loaded = False
    polls = 0
    error: Exception | None = None  # the last exception while reading (shown as a notification)  # completed polls, for tests that wait for a fresh read

    def __init__(self) -> None:
        super().__init__()
        self._busy = False

    def start_following(self) -> None:
        self.clock = self.app.clock  # for collect(): no app lookups from the worker thread
        self.poll_now()
        self.set_interval(self.app.refresh_s, self.poll_now)

    def poll_now(self) -> None:
        if self._busy:
            return
        self._busy = True
        self.run_worker(self._work, thread=True, group="follow", exit_on_error=False)

    def collect(self) -> tuple[Any, bool]:
        raise NotImplementedError

    def apply(self, payload: Any) -> None:
        raise NotImplementedError

    def _work(self) -> None:
        worker = get_current_worker()
        try:
            while not worker.is_cancelled:
                try:
                    payload, more = self.collect()
                except Exception as exc:  # a bug or an unreadable file must not take the UI down
                    self.error = exc
                    self.app.call_from_thread(self.notify, f"could not read: {exc!r}", severity="error")
                    return
                if payload is not None and not worker.is_cancelled:
                    self.app.call_from_thread(self._apply, payload)
                if not more:
                    break
        except RuntimeError:  # the app is shutting down
            return
        finally:
            self._busy = False
        try:
            self.app.call_from_thread(self._done)
        except RuntimeError:
            pass

    def _apply(self, payload: Any) -> None:
        if self.is_attached:
            self.apply(payload)

    def _done(self) -> None:
        self.loaded = True
        self.polls += 1
