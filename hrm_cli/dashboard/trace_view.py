"""An agent trace as a Textual tree, built one event at a time, and the details of each node.

The nesting follows the controller: plan -> subgoal -> model call -> code -> execution, then the
critique, the final answer and the totals. Each node keeps its event; `event_detail` renders it.
Events are kept as hrm_agent.untrusted.visible made them: what a model, a server or model code wrote
reaches the terminal with its control characters and escape sequences written out, and only as rich
`Text` (never parsed as markup).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from hrm_agent.untrusted import visible_value

Node = TreeNode[dict[str, Any]]


def short(value: Any, limit: int = 70) -> str:
    s = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else "?"


class TraceTree:
    """Adds trace events to a `Tree` as they arrive, keeping where the next event belongs."""

    def __init__(self, tree: Tree[dict[str, Any]]) -> None:
        self.tree = tree
        self.reset()

    def reset(self) -> None:
        self.tree.clear()
        self.tree.root.set_label(Text("run (waiting for run_start)", style="italic"))
        self.tree.root.data = {}
        self.tree.root.expand()
        self.round: Node | None = None
        self.subgoal: Node | None = None
        self.call: Node | None = None  # the last model call at the current level (code hangs under it)
        self.code: Node | None = None  # the last code node (its execution hangs under it)
        self.last: Node | None = None
        self.count = 0

    @property
    def parent(self) -> Node:
        return self.subgoal or self.round or self.tree.root

    def add(self, e: dict[str, Any]) -> Node | None:
        """Place one event; returns the node made for it (None when it only updated a node)."""
        e = visible_value(e)
        self.count += 1
        ev = e.get("event")
        root = self.tree.root
        node: Node | None = None
        if ev == "run_start":
            root.set_label(Text.assemble(("run ", "bold"), str(e.get("run_id", "?")), "  ",
                                         (f"{e.get('controller', '?')} on {e.get('backend', '?')}", "cyan")))
            root.data = e
            node = root.add_leaf(Text.assemble(("task ", "bold"), short(e.get("task", ""))), e)
        elif ev == "plan":
            subgoals = e.get("subgoals") or []
            self.round = root.add(Text.assemble((f"round {e.get('round', '?')} plan", "bold magenta"),
                                                f"  {len(subgoals)} subgoals"), e, expand=True)
            self.subgoal = self.call = self.code = None
            node = self.round
        elif ev == "subgoal_start":
            self.subgoal = (self.round or root).add(
                Text.assemble((f"subgoal {e.get('index', '?')}", "bold"), f"  {short(e.get('subgoal', ''), 60)}"),
                {**e}, expand=True)
            self.call = self.code = None
            node = self.subgoal
        elif ev == "subgoal_end":
            if self.subgoal is not None:
                ok = bool(e.get("ok"))
                self.subgoal.data = {**(self.subgoal.data or {}), "end": e}
                label = self.subgoal.label.copy()
                label.append("  ✓ " + short(e.get("result_repr", ""), 30) if ok else "  ✗ failed",
                             style="green" if ok else "red")
                self.subgoal.set_label(label)
            self.subgoal = self.call = self.code = None
        elif ev == "model_call":
            self.call = self.parent.add(Text.assemble(
                (str(e.get("role", "?")), "cyan"),
                f" call  {e.get('prompt_tokens', '?')}+{e.get('completion_tokens', '?')} tok  "
                f"{_num(e.get('latency_s'), '.1f')}s"), e, expand=True)
            self.code = None
            node = self.call
        elif ev == "code":
            lines = str(e.get("code", "")).count("\n") + 1
            self.code = (self.call or self.parent).add(Text.assemble(("code", "bold"), f"  {lines} lines"), e,
                                                         expand=True)
            node = self.code
        elif ev == "exec":
            if e.get("ok"):
                label = Text.assemble(("✓ exec ok", "green"), f" {_num(e.get('duration_s'), '.2f')}s  RESULT = ",
                                      short(e.get("result_repr", ""), 40))
            else:
                label = Text.assemble((f"✗ exec {e.get('exit_reason', 'error')}", "red"),
                                      f" {_num(e.get('duration_s'), '.2f')}s  {short(e.get('error', ''), 40)}")
            node = (self.code or self.parent).add_leaf(label, e)
        elif ev == "critique":
            action = str(e.get("action", "?"))
            node = (self.round or root).add_leaf(Text.assemble(
                ("critic ", "bold"), (action, "green" if action == "submit" else "yellow"),
                f"  {short(e.get('reason', ''), 50)}"), e)
            self.subgoal = self.call = self.code = None
        elif ev == "repair":
            node = self.parent.add_leaf(Text(f"repair ({e.get('role', '?')}): {short(e.get('error', ''), 50)}",
                                             style="yellow"), e)
        elif ev == "failure":
            anchor = self.last if self.last is not None and (self.last.data or {}).get("event") == "exec" else None
            target = anchor.parent if anchor is not None and anchor.parent is not None else self.parent
            node = target.add_leaf(Text.assemble((f"✗ failure [{e.get('category', '?')}]", "bold red"),
                                                 f" {short(e.get('detail', ''), 50)}"), e)
        elif ev == "vote":  # --samples K (docs/agent-voting.md): how the sampled programs' values fell
            counts = ", ".join(f"{short(str(c.get('value')), 20)} x{c.get('votes')}"
                               for c in (e.get("counts") or [])[:4] if isinstance(c, dict))
            node = self.parent.add_leaf(Text.assemble(
                ("vote ", "bold"), (f"{e.get('agreement', '?')} of {e.get('samples', '?')} agree",
                                    "green" if e.get("agreed") else "yellow"), f"  {counts}"), e)
        elif ev == "error":
            node = root.add_leaf(Text.assemble(("✗ error ", "bold red"), short(e.get("message", ""), 60)), e)
        elif ev == "final" and e.get("status") == "no_answer":
            node = root.add_leaf(Text.assemble((f"no answer ({e.get('reason', '?')}) ", "bold yellow"),
                                               short(e.get("reason_detail") or "", 60)), e)
            self.round = self.subgoal = self.call = self.code = None
        elif ev == "final":
            node = root.add_leaf(Text.assemble(("final answer ", "bold green"), short(e.get("answer"), 60)), e)
            self.round = self.subgoal = self.call = self.code = None
        elif ev in OPTIMIZE_LABELS:
            node = self.parent.add_leaf(OPTIMIZE_LABELS[ev](e), e)
        elif ev == "run_end" and isinstance(e.get("arms"), dict):  # an optimize run: the best of each arm
            best = "  ".join(f"{arm} best {_num((v or {}).get('best_score'), '.4g')} "
                             f"({(v or {}).get('evaluations', '?')} evals)" for arm, v in e["arms"].items())
            node = root.add_leaf(Text(f"{e.get('status', 'ended')}  {best}  {_num(e.get('wall_s'), '.1f')}s",
                                      style="bold"), e)
        elif ev == "run_end":
            node = root.add_leaf(Text(
                f"{e.get('status', 'ended')} ({e.get('reason') or e.get('stop_reason', '')})  "
                f"rounds {e.get('rounds', '?')}  "
                f"calls {e.get('model_calls', '?')}  code {e.get('code_runs', '?')}  "
                f"{_num(e.get('wall_s'), '.1f')}s", style="bold"), e)
        else:
            node = self.parent.add_leaf(Text(f"{ev}", style="dim"), e)
        if node is not None:
            self.last = node
        return node


def _candidate_label(e: dict[str, Any]) -> Text:
    valid = e.get("valid", True)
    return Text.assemble((f"candidate {e.get('evaluation', '?')}", "bold"), (f" [{e.get('arm', '?')}]", "cyan"),
                         f"  score {_num(e.get('score'), '.4g')}" if valid else ("  invalid", "red"),
                         f"  best {_num(e.get('best_so_far'), '.4g')}  ", short(e.get("candidate", ""), 40))


def _gp_label(e: dict[str, Any]) -> Text:
    return Text.assemble(("gp fit", "bold"), (f" [{e.get('arm', '?')}]", "cyan"),
                         f"  n {e.get('n', '?')}  lml {_num(e.get('log_marginal_likelihood'), '.4g')}  "
                         f"length {_num(e.get('length_scale'), '.3g')}  noise {_num(e.get('noise'), '.3g')}")


def _acquisition_label(e: dict[str, Any]) -> Text:
    picked = f"  {short(e['candidate'], 30)}" if e.get("candidate") else ""
    return Text.assemble((f"{e.get('kind', 'acquisition')}", "bold"), (f" [{e.get('arm', '?')}]", "cyan"),
                         f" {e.get('stage', '')}  value {_num(e.get('value'), '.4g')}  "
                         f"mean {_num(e.get('mean'), '.4g')} ± {_num(e.get('std'), '.3g')}  "
                         f"pool {e.get('pool_size', '?')}{picked}")


# optimize runs (agent/optimize/bopro.py): the values are the point of these nodes, so they go in the label
OPTIMIZE_LABELS = {"candidate": _candidate_label, "gp_fit": _gp_label, "acquisition": _acquisition_label}


def _flat(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as dotted keys (budget.max_rounds), for a table instead of a JSON dump."""
    if isinstance(value, dict) and value:
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += _flat(v, f"{prefix}{k}.")
        return out
    return [(prefix[:-1], value)]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(_value(v) for v in value) or "[]"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=repr)
    return "-" if value is None else str(value)


def _table(title: str, data: dict[str, Any]) -> list[RenderableType]:
    """A titled key/value table of a (nested) dict: a run's config, an event's fields."""
    rows = _flat(data)
    return [Text(f"── {title} ", style="bold"), _facts([(k, Text(_value(v))) for k, v in rows]), Text("")]


def _block(title: str, body: Any, style: str = "") -> list[RenderableType]:
    text = body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False, default=repr)
    return [Text(f"── {title} ", style="bold"), Text(text, style=style), Text("")]


def _facts(rows: list[tuple[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, value in rows:
        if value is not None and value != "":
            table.add_row(key, value if isinstance(value, Text) else Text(str(value)))
    return table


def event_detail(e: dict[str, Any]) -> RenderableType:
    """Everything a node's event holds, readable: prompts and responses, code, outputs, timing, tokens."""
    if not e:
        return Text("waiting for the trace's first event…", style="italic")
    e = visible_value(e)
    ev = e.get("event", "?")
    clock = str(e.get("time", ""))[11:23]  # HH:MM:SS.mmm of the ISO time (UTC)
    head = _facts([("event", f"{ev}  #{e.get('seq', '?')}"), ("at", f"+{e.get('elapsed_s', '?')} s  {clock}")])
    parts: list[RenderableType] = [head, Text("")]
    if ev == "run_start":
        parts.append(_facts([("controller", e.get("controller")), ("backend", e.get("backend")),
                             ("model", e.get("model")), ("run id", e.get("run_id"))]))
        parts += [Text(""), *_block("task", e.get("task", ""))]
        if e.get("context"):
            parts += _block("context", e["context"])
        if isinstance(e.get("config"), dict) and e["config"]:
            parts += _table("config", e["config"])
        extra = {k: v for k, v in e.items() if k in ("objective", "embedding", "optimizer") and v}
        if extra:
            parts += _table("optimize", extra)
    elif ev == "plan":
        parts.append(_facts([("round", e.get("round")), ("final format", e.get("final_format"))]))
        parts += [Text(""), Text("── subgoals ", style="bold")]
        parts += [Text(f"{i}. {s}") for i, s in enumerate(e.get("subgoals") or [], 1)]
    elif ev == "subgoal_start":
        end = e.get("end") or {}
        parts.append(_facts([("round", e.get("round")), ("index", e.get("index")),
                             ("outcome", ("ok" if end.get("ok") else "failed") if end else "in progress")]))
        parts += [Text(""), *_block("subgoal", e.get("subgoal", ""))]
        if end.get("result_repr"):
            parts += _block("result", end["result_repr"])
        if end.get("error"):
            parts += _block("error", end["error"], "red")
    elif ev == "model_call":
        parts.append(_facts([("role", e.get("role")), ("prompt tokens", e.get("prompt_tokens")),
                             ("completion tokens", e.get("completion_tokens")),
                             ("latency", f"{_num(e.get('latency_s'), '.3f')} s"), ("finish", e.get("finish_reason"))]))
        parts.append(Text(""))
        for m in e.get("messages") or []:
            if isinstance(m, dict):
                parts += _block(f"{m.get('role', '?')} message", str(m.get("content", "")))
        parts += _block("response", str(e.get("response", "")), "green")
    elif ev == "code":
        parts.append(_facts([("role", e.get("role"))]))
        parts.append(Text(""))
        parts.append(Syntax(str(e.get("code", "")), "python", theme="ansi_dark", line_numbers=True, word_wrap=True))
    elif ev == "exec":
        ok = bool(e.get("ok"))
        parts.append(_facts([("ok", Text("yes", "green") if ok else Text("no", "red")),
                             ("exit", e.get("exit_reason")), ("duration", f"{_num(e.get('duration_s'), '.3f')} s")]))
        parts.append(Text(""))
        parts += _block("RESULT", str(e.get("result_repr", "")))
        for key in ("stdout", "stderr", "error"):
            if e.get(key):
                parts += _block(key, str(e[key]), "red" if key != "stdout" else "")
    elif ev == "critique":
        parts.append(_facts([("round", e.get("round")), ("action", e.get("action"))]))
        parts += [Text(""), *_block("reason", str(e.get("reason", "")))]
    elif ev in ("failure", "error", "repair"):
        parts.append(_facts([("role", e.get("role")), ("category", e.get("category"))]))
        parts += [Text(""), *_block("detail", str(e.get("detail") or e.get("message") or e.get("error") or ""), "red")]
    elif ev == "final":
        if e.get("status") == "no_answer":
            parts.append(_facts([("status", "no_answer"), ("reason", e.get("reason")),
                                 ("format", e.get("answer_format"))]))
            parts += [Text(""), *_block("why", str(e.get("reason_detail") or ""), "yellow")]
            if e.get("candidate"):
                parts += [Text(""), *_block("rejected reply", str(e.get("candidate")))]
        else:
            parts += _block("final answer", str(e.get("answer")), "bold")
    elif ev == "run_end":
        keys = ("status", "reason", "stop_reason", "final", "rounds", "model_calls", "code_runs", "prompt_tokens",
                "completion_tokens", "wall_s")
        parts.append(_facts([(k, e.get(k)) for k in keys]))
        if e.get("failures"):
            parts += [Text(""), *_block("failures", e["failures"], "red")]
    elif ev == "run_end" and isinstance(e.get("arms"), dict):
        parts += _table("result", {k: v for k, v in e.items() if k not in ("seq", "event", "time", "elapsed_s")})
    else:
        rest = {k: v for k, v in e.items() if k not in ("seq", "event", "time", "elapsed_s")}
        long = {k: v for k, v in rest.items() if isinstance(v, str) and ("\n" in v or len(v) > 120)}
        parts += _table("fields", {k: v for k, v in rest.items() if k not in long})
        for key, value in long.items():
            parts += _block(key, value)
    return Group(*parts)
