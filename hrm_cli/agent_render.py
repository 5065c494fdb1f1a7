"""Rendering agent traces as a rich tree (used by `hrm agent show`; the dashboard reuses it)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.syntax import Syntax
from rich.text import Text
from rich.tree import Tree


def _short(text: Any, limit: int, full: bool) -> str:
    s = text if isinstance(text, str) else repr(text)
    s = s.strip()
    if full or len(s) <= limit:
        return s
    return s[:limit].rstrip() + " ..."


def trace_tree(events: list[dict[str, Any]], full: bool = False) -> Tree:
    """Plan -> subgoals -> calls/code/results, then critique, failures and the final answer."""
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
        elif ev == "failure":
            parent.add(Text.assemble((f"failure [{e['category']}]", "bold red"), f" {e['detail']}"))
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
        elif ev == "final":
            root.add(Text.assemble(("final answer ", "bold green"), str(e.get("answer"))))
        elif ev == "run_end":
            root.add(Text(f"{e.get('status')} ({e.get('stop_reason')})  rounds {e.get('rounds')}  "
                          f"calls {e.get('model_calls')}  code runs {e.get('code_runs')}  tokens "
                          f"{e.get('prompt_tokens')}+{e.get('completion_tokens')}  {e.get('wall_s')}s", style="dim"))
    if not any(e["event"] == "run_end" for e in events):
        root.add(Text("... running (the trace is still being written)", style="italic yellow"))
    return root
