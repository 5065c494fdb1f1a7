"""Rendering agent traces as a rich tree (used by `hrm agent show`; the dashboard reuses it).

Every string of every event went through hrm_agent.untrusted.visible first: model replies, code, RESULTs
and server messages reach the terminal with their control characters and escape sequences written out."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.syntax import Syntax
from rich.text import Text
from rich.tree import Tree

from hrm_agent.untrusted import visible_value


def _short(text: Any, limit: int, full: bool) -> str:
    s = text if isinstance(text, str) else repr(text)
    s = s.strip()
    if full or len(s) <= limit:
        return s
    return s[:limit].rstrip() + " ..."


def trace_tree(events: list[dict[str, Any]], full: bool = False) -> Tree:
    """Plan -> subgoals -> calls/code/results, then critique, failures and the final answer."""
    events = [visible_value(e) for e in events]
    start = next((e for e in events if e["event"] == "run_start"), {})
    root = Tree(Text.assemble(("run ", "bold"), str(start.get("run_id", "?")), "  ",
                              (f"{start.get('controller', '?')} on {start.get('backend', '?')}", "cyan"),
                              f"  {start.get('model', '')}"))
    root.add(Text.assemble(("task ", "bold"), _short(start.get("task", ""), 300, full)))
    round_node: Tree | None = None
    sub_node: Tree | None = None
    for e in events:
        ev = e["event"]
        parent = sub_node or round_node or root
        if ev == "plan":
            round_node = root.add(Text.assemble((f"round {e['round']} plan", "bold magenta"),
                                                f"  format: {e.get('final_format', '')}"))
            sub_node = None
        elif ev == "subgoal_start":
            sub_node = (round_node or root).add(Text.assemble((f"subgoal {e['index']}", "bold"), f"  {e['subgoal']}"))
        elif ev == "subgoal_end":
            sub_node = None
        elif ev == "model_call":
            node = parent.add(f"[cyan]{escape(e['role'])}[/] call: {e['prompt_tokens']}+{e['completion_tokens']} "
                              f"tokens, {e['latency_s']:.1f}s")
            if full:
                for m in e.get("messages", []):
                    node.add(f"[dim]{escape(m['role'])}:[/] {escape(m['content'])}")
            if e["role"] not in ("solver", "flat") or full:
                node.add(Text(_short(e.get("response", ""), 240, full), style="green"))
        elif ev == "code":
            parent.add(Syntax(_short(e["code"], 1200, full), "python", theme="ansi_dark", word_wrap=True))
        elif ev == "exec":
            if e["ok"]:
                label = Text.assemble(("exec ok", "green"), f" ({e['duration_s']:.2f}s)  RESULT = ",
                                      _short(e.get("result_repr", ""), 300, full))
            else:
                label = Text.assemble((f"exec {e['exit_reason']}", "red"), f" ({e['duration_s']:.2f}s)  ",
                                      _short(e.get("error", ""), 300, full))
            node = parent.add(label)
            if e.get("stdout"):
                node.add(Text("stdout: " + _short(e["stdout"], 300, full), style="dim"))
        elif ev == "critique":
            style = "green" if e.get("action") == "submit" else "yellow"
            (round_node or root).add(Text.assemble(("critic ", "bold"), (e.get("action", "?"), style),
                                                   f"  {e.get('reason', '')}"))
        elif ev == "repair":
            parent.add(Text(f"repair prompt ({e['role']}): {e['error']}", style="yellow"))
        elif ev == "example_check":
            failed = [str(f) for f in (e.get("failed") or [])]
            n = len(e.get("examples") or [])
            if failed:
                parent.add(Text(f"task's examples: {len(failed)} of {n} contradicted: " + _short(failed[0], 200, full),
                                style="red"))
            else:
                parent.add(Text(f"task's examples: all {n} hold", style="green"))
        elif ev == "failure":
            parent.add(Text.assemble((f"failure [{e['category']}]", "bold red"), f" {e['detail']}"))
        elif ev == "vote":
            counts = ", ".join(f"{_short(str(c.get('value')), 40, full)} x{c.get('votes')}"
                               for c in (e.get("counts") or [])[:8])
            parent.add(Text.assemble(("vote ", "bold"), (f"{e['agreement']} of {e['samples']}",
                                                         "green" if e.get("agreed") else "yellow"),
                                     f" agree ({e['min_agreement']} needed): {counts or 'no values'}"
                                     + (f", {e['no_value']} no value" if e.get("no_value") else "")))
        elif ev == "error":
            root.add(Text.assemble(("error ", "bold red"), e.get("message", "")))
        elif ev == "candidate":  # hrm agent optimize
            style = "green" if e.get("valid") else "red"
            parent.add(Text.assemble((f"{e.get('arm', '?')} #{e.get('evaluation', '?')}", "bold"),
                                     f"  {_short(e.get('candidate', ''), 120, full)}  ",
                                     (f"score {e.get('score')}", style), f"  best {e.get('best_so_far')}"))
        elif ev == "gp_fit":
            parent.add(Text(f"GP fit ({e.get('arm')}): {e.get('kernel')} on {e.get('n')} points, "
                            f"log marginal likelihood {e.get('log_marginal_likelihood')}", style="dim"))
        elif ev == "final" and e.get("status") == "no_answer":
            node = root.add(Text.assemble((f"no answer ({e.get('reason', '?')}) ", "bold yellow"),
                                          str(e.get("reason_detail") or "")))
            if e.get("candidate"):
                node.add(Text("rejected reply: " + _short(e["candidate"], 300, full), style="dim"))
        elif ev == "final":
            root.add(Text.assemble(("final answer ", "bold green"), str(e.get("answer"))))
        elif ev == "fallback_answer":
            root.add(Text(f"fallback answer (the synthesizer's reply: {e.get('because')}): {e.get('answer')}",
                          style="yellow"))
        elif ev == "run_end":
            root.add(Text(f"{e.get('status')} ({e.get('reason') or e.get('stop_reason')})  rounds {e.get('rounds')}  "
                          f"calls {e.get('model_calls')}  code runs {e.get('code_runs')}  tokens "
                          f"{e.get('prompt_tokens')}+{e.get('completion_tokens')}  {e.get('wall_s')}s", style="dim"))
    if not any(e["event"] == "run_end" for e in events):
        root.add(Text("... running (the trace is still being written)", style="italic yellow"))
    return root


class PhaseTracker:
    """What a run is doing now, followed from its trace events as they are written.

    Events are emitted after the step they describe, so each one says what comes next: `run_start` ->
    planning (hierarchical) or writing code (flat), `subgoal_start` -> solving subgoal i/n, `code` ->
    running code, the last `subgoal_end` -> critic, `critique` -> synthesizing or replanning, `final` -> done.
    """

    def __init__(self) -> None:
        self.phase = "starting"
        self.controller = ""
        self.subgoals = 0
        self.index = 0
        self.attempt = 0
        self.calls = 0
        self.tokens = 0
        self.ok_execs = 0  # without one, a submitted run ends without a synthesizer call

    def _solving(self) -> str:
        return f"solving subgoal {self.index}/{self.subgoals}" if self.subgoals else "solving"

    def update(self, e: dict[str, Any]) -> bool:
        """Take one event; True when the phase changed."""
        ev, before = e.get("event"), self.phase
        if ev == "run_start":
            self.controller = str(e.get("controller", ""))
            self.phase = "writing code" if self.controller == "flat" else "planning"
        elif ev == "model_call":
            self.calls += 1
            self.tokens += int(e.get("prompt_tokens") or 0) + int(e.get("completion_tokens") or 0)
            if e.get("role") == "flat":
                self.attempt += 1
        elif ev == "repair":
            self.phase = f"{self.phase.split(' (')[0]} (repair)"
        elif ev == "plan":
            self.subgoals, self.index = len(e.get("subgoals") or []), 0
        elif ev == "subgoal_start":
            self.index = int(e.get("index") or 0)
            self.phase = self._solving()
        elif ev == "code":
            self.phase = "running code" + (f" (subgoal {self.index}/{self.subgoals})" if self.subgoals else "")
        elif ev == "exec":
            self.ok_execs += bool(e.get("ok"))
            self.phase = self._solving() if self.controller != "flat" else "writing code"
        elif ev == "subgoal_end" and self.subgoals and self.index >= self.subgoals:
            self.phase = "critic"
        elif ev == "critique":
            if e.get("action") != "submit":
                self.phase = "replanning"
            elif self.ok_execs:
                self.phase = "synthesizing"
        elif ev in ("final", "run_end"):
            self.phase = "done"
        return self.phase != before

    def line(self, elapsed: float) -> str:
        return f"{self.phase}  {_clock(elapsed)}  calls {self.calls}  tokens {self.tokens}"


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


class RunStatus:
    """`hrm agent run`'s status on stderr: a live line (spinner, phase, elapsed time) on a terminal, one
    plain line per phase change when piped. `listener` feeds it trace events; use it as a context manager."""

    def __init__(self, console: Any, *, plain_lines: bool = True) -> None:
        import time

        self.console = console
        self.tracker = PhaseTracker()
        self.t0 = time.monotonic()
        self.plain_lines = plain_lines
        self._live: Any = None

    def __rich__(self) -> Any:
        import time

        from rich.spinner import Spinner

        return Spinner("dots", text=Text(self.tracker.line(time.monotonic() - self.t0), style="cyan"))

    def __enter__(self) -> RunStatus:
        if self.console.is_terminal:
            from rich.live import Live

            self._live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def listener(self, record: dict[str, Any]) -> None:
        changed = self.tracker.update(record)
        if self._live is not None or not self.plain_lines or self.tracker.phase == "done":
            return
        # piped: one line per phase, from the model's first answer on (a backend that never answers
        # leaves its one-line error alone on stderr)
        first = record.get("event") == "model_call" and self.tracker.calls == 1
        if (changed and self.tracker.calls) or first:
            self.console.print(f"{float(record.get('elapsed_s') or 0):7.1f}s {self.tracker.phase}", highlight=False,
                               markup=False)
