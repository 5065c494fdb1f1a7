"""Worked examples (few-shot demonstrations) shown to the model before its own task, picked by similarity.

A 135M-parameter instruct model told only "reply with one python block that sets RESULT" answers in prose
or prints; shown three solved tasks like the one at hand, it copies their shape. The demonstrations live in
the prompt set's `demos:` section (configs/prompts/default.yaml), one list per role; each is rendered with
that role's own user template, so a demonstration looks exactly like a real turn. For each call the `k`
most similar ones (TF-IDF cosine over the words and operators of the user message, numbers masked) go
between the system message and the task, the most similar last, nearest the task.

`demos: auto` (configs/agent.yaml) shows them on the local model without an adapter, where they help; an
adapter from `hrm agent tune` learned the protocol from zero-shot prompts, and a server's large model needs
no examples, so both get none unless `demos: N` asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hrm_agent.errors import AgentError

DEMO_ROLES = ("planner", "solver", "flat")
AUTO_K = 3
# what a demonstration may fill in its role's user template; the rest are empty (or "none")
_DEFAULTS = {"context": "", "feedback": "", "variables": "none"}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _normalise(text: str) -> str:
    """Lower case, numbers masked: two tasks differing only in their numbers are the same kind of task."""
    return _NUMBER.sub(" num ", text.lower())


@dataclass(frozen=True)
class Demo:
    fields: dict[str, str]  # the role's user-template placeholders this demonstration fills
    reply: str              # what the model should have answered


def parse_demos(raw: Any, where: str, allowed: dict[str, set[str]]) -> dict[str, list[Demo]]:
    """The `demos:` section of a prompt set, checked: role -> demonstrations."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise AgentError(f"{where}: `demos` must map roles ({', '.join(DEMO_ROLES)}) to lists of examples")
    out: dict[str, list[Demo]] = {}
    for role, items in raw.items():
        if role not in DEMO_ROLES:
            raise AgentError(f"{where}: demos for unknown role {role!r}; demonstrations exist for "
                             f"{', '.join(DEMO_ROLES)}")
        if not isinstance(items, list):
            raise AgentError(f"{where}: demos.{role} must be a list of examples")
        demos = []
        for i, item in enumerate(items, 1):
            if not isinstance(item, dict) or not isinstance(item.get("reply"), str) or not item.get("task"):
                raise AgentError(f"{where}: demos.{role}[{i}] needs a `task` and a `reply` string")
            fields = {k: str(v) for k, v in item.items() if k != "reply"}
            unknown = set(fields) - allowed[role]
            if unknown:
                raise AgentError(f"{where}: demos.{role}[{i}] has unknown field(s) {sorted(unknown)}; "
                                 f"allowed: {sorted(allowed[role])} and reply")
            demos.append(Demo(fields, item["reply"].strip()))
        out[role] = demos
    return out


class DemoBank:
    """The demonstrations of one prompt set, indexed for retrieval; `apply` puts the `k` nearest in a call."""

    def __init__(self, prompts: dict[str, Any], k: int) -> None:
        self.k = int(k)
        self._prompts = prompts
        self._demos: dict[str, list[Demo]] = prompts.get("_demos") or {}
        self._index: dict[str, tuple[Any, Any]] = {}
        self._texts: dict[str, list[str]] = {role: [self.user_text(role, d) for d in demos]
                                             for role, demos in self._demos.items()}

    def __bool__(self) -> bool:
        return self.k > 0 and any(self._demos.values())

    def user_text(self, role: str, demo: Demo) -> str:
        """The demonstration's user turn, rendered with the role's template as a real call would be."""
        return self._prompts[role]["user"].format(**{**_DEFAULTS, **demo.fields}).strip()

    def _vectors(self, role: str) -> tuple[Any, Any]:
        if role not in self._index:
            from sklearn.feature_extraction.text import TfidfVectorizer

            vec = TfidfVectorizer(preprocessor=_normalise, token_pattern=r"[a-z]+|[%*/+^-]", sublinear_tf=True,
                                  ngram_range=(1, 2))
            self._index[role] = (vec, vec.fit_transform(self._texts[role]))
        return self._index[role]

    def pick(self, role: str, query: str, k: int | None = None) -> list[Demo]:
        """The `k` demonstrations of `role` most similar to `query`, least similar first (ties: file order)."""
        demos = self._demos.get(role) or []
        k = self.k if k is None else k
        if not demos or k <= 0:
            return []
        vec, matrix = self._vectors(role)
        scores = (matrix @ vec.transform([query]).T).toarray().ravel()
        order = sorted(range(len(demos)), key=lambda i: (-scores[i], i))[:k]
        return [demos[i] for i in reversed(order)]

    def apply(self, role: str, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        """`messages` with the nearest demonstrations as earlier turns after the system message; the query
        is the first user message (the task itself, not a later repair or feedback turn)."""
        if not self or role not in self._demos or not messages or messages[0].get("role") != "system":
            return messages
        query = next((m["content"] for m in messages if m.get("role") == "user"), "")
        shots: list[dict[str, str]] = []
        for demo in self.pick(role, query):
            shots += [{"role": "user", "content": self.user_text(role, demo)},
                      {"role": "assistant", "content": demo.reply}]
        return [messages[0], *shots, *messages[1:]]


def demo_count(cfg: dict[str, Any]) -> int:
    """How many demonstrations a call gets under `cfg["demos"]`: `auto` is AUTO_K on the local model without
    an adapter and 0 otherwise; a number is that number."""
    value = cfg.get("demos", "auto")
    if value is None or str(value).strip().lower() == "auto":
        return AUTO_K if cfg.get("backend", "mlx") == "mlx" and not cfg.get("adapter") else 0
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise AgentError(f"demos must be auto or a whole number of examples per call, got {value!r}") from None
    if k < 0:
        raise AgentError(f"demos must be auto or a whole number >= 0, got {k}")
    return k


__all__ = ["AUTO_K", "DEMO_ROLES", "Demo", "DemoBank", "demo_count", "parse_demos"]
