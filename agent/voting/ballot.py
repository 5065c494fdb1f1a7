"""Self-consistency: K sampled solutions vote on their RESULT values, and an answer stands only when enough
of them agree (issue 32; docs/agent-voting.md).

Why: a small model's wrong answers come from code that runs, so "derived from a successful RESULT" cannot
tell them from right ones; independently sampled programs rarely agree on the same wrong number, so the
number of samples behind a value is the signal the verdict lacked. The values are untrusted (model code
computed them): normalising is bounded (MAX_LEAVES) and linear, and nothing here executes or evaluates them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from hrm_agent.errors import AgentError

MAX_SAMPLES = 64  # a vote over more programs than this is a benchmark, not a run
MAX_LEAVES = 2000  # a RESULT with more parts than this is compared exactly (by a hash of its JSON)
REL_TOL = 1e-6  # numbers agree within this relative tolerance (or ABS_TOL), so 0.1 + 0.2 == 0.3
ABS_TOL = 1e-9
SHOWN_CHARS = 200  # a value as the trace's vote counts show it

# A number as a model or its code writes it: 391, " 391 ", 391.0, 1,279.43, $12, 25%, 12 km, 1.5e3.
_NUMBER = re.compile(r"[$€£]?\s*([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+)([eE][-+]?\d+)?"
                     r"\s*(?:%|[A-Za-z°²³/]{1,16})?")
_SPACE = re.compile(r"\s+")


# -- the settings -----------------------------------------------------------------------------------------

def default_min_agreement(samples: int) -> int:
    """More than half of the samples and at least 2 (1 for a single sample, which is today's run)."""
    return 1 if samples <= 1 else max(2, samples // 2 + 1)


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise AgentError(f"{what} must be a whole number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise AgentError(f"{what} must be a whole number, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise AgentError(f"{what} must be a whole number, got {value!r}")
    return int(number)


@dataclass(frozen=True)
class Sampling:
    """How many solutions a run samples and how many must agree; samples == 1 is the plain greedy run."""

    samples: int = 1
    min_agreement: int = 1
    temperature: float = 0.7
    seed: int = 0

    @property
    def voting(self) -> bool:
        return self.samples > 1


def sampling_from_config(cfg: dict[str, Any]) -> Sampling:
    """The `samples`, `min_agreement`, `sample_temperature` and `sample_seed` keys, checked: a bad value is
    one AgentError line (exit 2) before anything runs."""
    samples = _whole(1 if cfg.get("samples") is None else cfg["samples"], "--samples")
    if not 1 <= samples <= MAX_SAMPLES:
        raise AgentError(f"--samples must be between 1 and {MAX_SAMPLES}, got {samples}")
    raw = cfg.get("min_agreement")
    if raw is None:
        need = default_min_agreement(samples)
    else:
        need = _whole(raw, "--min-agreement")
        if need < 1:
            raise AgentError(f"--min-agreement must be at least 1, got {need}")
        if samples == 1 and need > 1:
            raise AgentError(f"--min-agreement {need} needs --samples {need} or more (got --samples 1)")
        if need > samples:
            raise AgentError(f"--min-agreement {need} is more than the {samples} samples: no value could "
                             f"get that many votes")
    try:
        temperature = float(cfg.get("sample_temperature", 0.7))
        seed = _whole(cfg.get("sample_seed", 0), "sample_seed")
    except (TypeError, ValueError):
        raise AgentError(f"sample_temperature must be a number, got {cfg.get('sample_temperature')!r}") from None
    if samples > 1 and not (math.isfinite(temperature) and temperature > 0):
        raise AgentError(f"sample_temperature must be above 0 with --samples {samples} (at 0 every sample is "
                         f"the same greedy reply), got {temperature:g}")
    return Sampling(samples=samples, min_agreement=need, temperature=temperature, seed=seed)


# -- normalising ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Num:
    value: float
    tol: float  # half a unit of the last written decimal of a number written as text, else 0


Norm = Any  # Num | int (past a float's range) | bool | str | tuple | ("dict", ...) | ("opaque", digest)


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_LEAVES

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _text_number(text: str) -> Num | int | None:
    m = _NUMBER.fullmatch(text.strip())
    if not m:
        return None
    digits, exp = m.group(1).replace(",", ""), m.group(2) or ""
    if "." not in digits and not exp:
        whole = int(digits)
        return Num(float(whole), 0.0) if abs(whole) < 2 ** 53 else whole
    try:
        value = float(digits + exp)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(value):
        return None
    decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
    return Num(value, 0.5 * 10.0 ** (int(exp[1:] or 0) - decimals) if decimals else 0.0)


def _text(text: str) -> str:
    """Trimmed, case-folded, whitespace runs as one space, surrounding quotes/backticks and a final period
    dropped: `" Paris. "` and `'paris'` are one answer."""
    s = _SPACE.sub(" ", text).strip()
    for _ in range(2):
        s = s.strip("`").strip()
        if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
            s = s[1:-1].strip()
    return s.rstrip(".").strip().casefold()


def normalise(value: Any) -> Norm:
    """A RESULT value in a form votes compare: numbers (ints, floats, numbers written as text) as numbers,
    text trimmed and case-folded, a string holding a JSON list/object as that list/object, lists and dicts
    element by element; None (no value) stays None. A value of more than MAX_LEAVES parts is compared
    exactly, by a digest of its JSON."""
    if value is None:
        return None
    budget = _Budget()
    norm = _norm(value, budget, 0)
    if budget.left < 0:
        try:
            text = json.dumps(value, sort_keys=True, default=repr, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
        return ("opaque", hashlib.sha256(text.encode("utf-8", "replace")).hexdigest())
    return norm


def _norm(value: Any, budget: _Budget, depth: int) -> Norm:
    if not budget.take() or depth > 60:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Num(float(value), 0.0) if abs(value) < 2 ** 53 else value
    if isinstance(value, float):
        return Num(value, 0.0) if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("[", "{") and len(stripped) < 100_000:
            try:
                from hrm_agent.untrusted import load_json

                return _norm(load_json(stripped, max_bytes=100_000), budget, depth + 1)
            except ValueError:
                pass
        number = _text_number(stripped) if len(stripped) <= 64 else None
        return number if number is not None else _text(value)
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v, budget, depth + 1) for v in value)
    if isinstance(value, dict):
        items = sorted(((_text(str(k)), _norm(v, budget, depth + 1)) for k, v in value.items()),
                       key=lambda kv: kv[0])
        return ("dict", tuple(items))
    return _text(repr(value))


def same(a: Norm, b: Norm) -> bool:
    """Whether two normalised values are one answer: numbers within REL_TOL/ABS_TOL (or half a unit of the
    last decimal either of them was written with), everything else equal part by part."""
    if isinstance(a, Num) and isinstance(b, Num):
        tol = max(a.tol, b.tol, ABS_TOL, REL_TOL * max(abs(a.value), abs(b.value)))
        return abs(a.value - b.value) <= tol
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return type(a) is type(b) and a == b


def shown(value: Any) -> str:
    """A value as the vote counts show it: text as written, anything else as JSON, cut at SHOWN_CHARS."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


# -- the vote ---------------------------------------------------------------------------------------------

@dataclass
class Group:
    """The samples that gave one value: the value as the first of them wrote it, and who they were."""

    value: Any
    norm: Norm
    members: list[int] = field(default_factory=list)

    @property
    def votes(self) -> int:
        return len(self.members)


@dataclass
class Vote:
    """K samples' values grouped into answers. `agreement` is the winner's votes, 0 when no value leads
    alone (a tie at the top, or no sample gave a value): a tie is never agreement, at any threshold."""

    samples: int
    min_agreement: int
    values: list[Any]
    groups: list[Group]

    @property
    def winner(self) -> Group | None:
        if not self.groups or (len(self.groups) > 1 and self.groups[1].votes == self.groups[0].votes):
            return None
        return self.groups[0]

    @property
    def tied(self) -> bool:
        return len(self.groups) > 1 and self.groups[1].votes == self.groups[0].votes

    @property
    def agreement(self) -> int:
        win = self.winner
        return win.votes if win is not None else 0

    @property
    def agreed(self) -> bool:
        return self.agreement >= self.min_agreement

    @property
    def leader(self) -> Group | None:
        """The group the run goes on with: the winner, or on a tie the one a sample reached first."""
        return self.groups[0] if self.groups else None

    def counts(self) -> list[dict[str, Any]]:
        return [{"value": shown(g.value), "votes": g.votes, "samples": list(g.members)} for g in self.groups]

    def as_dict(self) -> dict[str, Any]:
        """The trace's vote fields (docs/agent-trace.md, event `vote`)."""
        win = self.winner
        return {"samples": self.samples, "min_agreement": self.min_agreement, "counts": self.counts(),
                "no_value": sum(v is None for v in self.values), "winner": shown(win.value) if win else None,
                "agreement": self.agreement, "tied": self.tied, "agreed": self.agreed}

    def summary(self) -> str:
        """One line for a reason detail: `3 of 5 samples gave 391; 1 gave 390; 1 no value`."""
        if not self.groups:
            return f"none of {self.samples} samples gave a value"
        parts = [f"{g.votes} gave {shown(g.value)[:40]}" for g in self.groups[:4]]
        if len(self.groups) > 4:
            parts.append(f"{len(self.groups) - 4} other value(s)")
        missing = sum(v is None for v in self.values)
        if missing:
            parts.append(f"{missing} no value")
        return f"of {self.samples} samples: " + "; ".join(parts)


def vote(values: list[Any], min_agreement: int) -> Vote:
    """Group the samples' values (None: the sample has no value, and votes for nothing) into answers, the
    most voted first (ties in the order a sample first gave them)."""
    groups: list[Group] = []
    for index, value in enumerate(values):
        if value is None:
            continue
        norm = normalise(value)
        for group in groups:
            if same(group.norm, norm):
                group.members.append(index)
                break
        else:
            groups.append(Group(value, norm, [index]))
    groups.sort(key=lambda g: (-g.votes, g.members[0]))
    return Vote(samples=len(values), min_agreement=min_agreement, values=list(values), groups=groups)
