"""Honest outcomes: when a run's final text counts as an answer, and why not when it does not.

A run is `answered` only when its final answer (a) is in the requested format — the task's own format
when the task states one (`Return exactly: 'Answer: <liters>'`), else the plan's — and (b) is derived
from an executed, successful code result: every value the answer puts in a placeholder matches a RESULT
of a successful run (numbers with a tolerance that allows the rounding the answer shows, strings
normalised). A synthesizer that echoes its prompt (the results listing, `FAILED:`, prompt lines) gives
no answer at all. Everything else is `no_answer` with one of REASONS, so a small model's garbage is
never reported as success (issue 18).
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

DEFAULT_FORMAT = "Answer: <value>"

# Why a run has no answer, in the order they are judged (the first that applies is the reason).
REASONS = {
    "backend_error": "the model backend failed before the run could finish",
    "timeout": "the run hit its wall-clock limit before any usable result",
    "budget": "the token or round budget ran out before any usable result",
    "planner_unreadable": "the planner's reply was unreadable and no code run succeeded",
    "no_successful_code": "no code run succeeded, so no answer can be derived from a result",
    "example_failed": "the code ran but contradicts an example the task states (f(x) == y)",
    "echo": "the final reply repeats the prompt (results listing, FAILED lines) instead of answering",
    "format_mismatch": "the final answer is not in the requested format",
    "not_derived": "the final answer's value matches no RESULT of a successful code run",
    "empty_answer": "the final reply was empty",
    "no_agreement": "the K sampled programs did not agree: the leading value had fewer than min_agreement votes",
}

_PLACEHOLDER = re.compile(r"<([^<>\n]{1,40})>")
_QUOTED_FORMAT = re.compile(r"""(['"`])([^'"`\n]{0,80}<[^<>\n]{1,40}>[^'"`\n]{0,80})\1""")
_BARE_ANSWER = re.compile(r"\b(answer\s*:\s*<[^<>\n]{1,40}>)", re.I)
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?")
_NUMERIC_VALUE = re.compile(r"^[$€£]?\s*([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+)([eE][-+]?\d+)?"
                            r"\s*(?:%|[A-Za-z°²³/^ ]{0,16})?$")
# Untrusted text: `[ \t]*`, never `\s*`, after `^` with re.M, or a run of blank lines is rescanned from every
# line start (quadratic: 20,000 newlines took 4 s); and no two unbounded quantifiers over the same characters.
_RESULT_LINE = re.compile(r"^[ \t]*\d+\.[ \t].*[ \t]->[ \t]", re.M)  # a line of the synthesizer's results listing
_PROMPT_MARKERS = re.compile(r"^[ \t]*(TASK|RESULTS|FORMAT|SUBGOAL|LAST PLAN RESULTS|CRITIC)[ \t]*:", re.M)
_MAX_LEAVES = 2000


@dataclass
class AnswerVerdict:
    """What `judge` decided: the accepted answer (None when there is none) and, if none, why."""

    answer: str | None
    reason: str = ""
    detail: str = ""

    @property
    def answered(self) -> bool:
        return self.answer is not None


# -- formats -----------------------------------------------------------------------------------------

def task_format(task: str) -> str | None:
    """The answer format the task text itself asks for (`Answer: <liters>`), or None when it states none."""
    quoted = [m.group(2).strip() for m in _QUOTED_FORMAT.finditer(task or "")]
    if quoted:
        return quoted[-1]  # the format sentence usually ends the task
    bare = _BARE_ANSWER.findall(task or "")
    return bare[-1].strip() if bare else None


def plan_format_usable(fmt: str | None) -> bool:
    """A planner's format is one line with a `<placeholder>`: a small model under a JSON grammar fills the
    field with anything (`Multiply by 23: 17 * 23 = 433]}%||...`), and a format without a placeholder is
    either such garbage or an answer written before any code ran; neither may bind the synthesizer."""
    text = (fmt or "").strip()
    return bool(text) and "\n" not in text and len(text) <= 80 and _PLACEHOLDER.search(text) is not None


def requested_format(task: str, plan_format: str | None) -> str:
    """The task's own format, else the plan's when it is usable, else `Answer: <value>`."""
    own = task_format(task)
    if own:
        return own
    return plan_format.strip() if plan_format and plan_format_usable(plan_format) else DEFAULT_FORMAT


MAX_MATCH_CHARS = 20_000  # an answer line longer than this is no answer (an ARC grid in a line is ~3k)


@dataclass(frozen=True)
class _Format:
    """A format as the literal texts between its placeholders, each lower-cased with its whitespace
    collapsed: `Answer: <a> and <b>.` -> ("answer:", "and", "."), two placeholders."""

    literals: tuple[str, ...]

    @property
    def slots(self) -> int:
        return len(self.literals) - 1


def format_pieces(fmt: str) -> list[str]:
    """The format (quotes stripped) split at its `<placeholder>`s: literal, name, literal, ..., literal."""
    return _PLACEHOLDER.split(fmt.strip().strip("'\"`").strip())


def _parse_format(fmt: str) -> _Format | None:
    """The format's literals around its placeholders (None when it has no placeholder)."""
    pieces = format_pieces(fmt)
    if len(pieces) == 1:
        return None
    return _Format(tuple(_lower(" ".join(piece.split())) for piece in pieces[0::2]))


def _lower(text: str) -> str:
    """Lower case, one character for one (the few characters whose lower case is longer stay as they are),
    so that positions in the lowered text are positions in the text."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _words(text: str) -> tuple[str, list[int]]:
    """`text` with each whitespace run made one space and its ends stripped, and for each character of
    that the index of the character it came from."""
    parts, where = [], []
    for m in re.finditer(r"\S+", text):  # one simple class: linear
        if parts:
            parts.append(" ")
            where.append(m.start() - 1)
        parts.append(m.group(0))
        where.extend(range(m.start(), m.end()))
    return "".join(parts), where


def _fill(form: _Format, text: str) -> list[str] | None:
    """The placeholder values when `text` is in the format, else None: in linear time, without a regex.

    The text is matched with whitespace runs collapsed and case ignored: the first literal must start it,
    the last must end it (a final `.` may follow), and each literal between is taken at its first place
    that leaves the value before it with a non-space character; each value is the stripped text between.
    Taking the first place is what a lazy `(.+?)` does, and if any placing fits, the first one does too.
    """
    norm, where = _words(text)
    low = _lower(norm)
    first, *middle, last = form.literals
    if not low.startswith(first):
        return None
    cur, cuts = len(first), []
    for lit in middle:
        q = _first_char(low, cur)
        if q < 0:
            return None
        at = low.find(lit, q + 1)
        if at < 0:
            return None
        cuts.append((cur, at))
        cur = at + len(lit)
    for tail in (" .", ".", ""):  # the final `\s*\.?\s*`, the shortest last value first
        end = len(low) - len(tail) - len(last)
        if end > cur and low.endswith(last + tail) and _first_char(low, cur, end) >= 0:
            break
    else:
        return None
    cuts.append((cur, end))
    values = []
    for a, b in cuts:
        value = text[where[a]:where[b - 1] + 1].strip()
        if not value:
            return None
        values.append(value)
    return values


def _first_char(text: str, start: int, end: int | None = None) -> int:
    """The index of the first non-space character of text[start:end], or -1."""
    stop = len(text) if end is None else end
    i = start
    while i < stop and text[i] == " ":  # the text is whitespace-collapsed: at most one space in a row
        i += 1
    return i if i < stop else -1


def _clean_line(line: str) -> str:
    """Markdown a small model adds around an answer (bold, backticks, surrounding quotes) removed."""
    s = line.strip().replace("**", "").replace("__", "")
    for _ in range(2):
        s = s.strip().strip("`").strip()
        if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
            s = s[1:-1]
    return s.strip()


def match_format(fmt: str, answer: str) -> tuple[str, list[str]] | None:
    """(the answer line in the format, the placeholder values), or None when no line of it fits.

    The whole answer is tried first, then each line (a small model often adds a sentence around the
    answer line); a format with no placeholder is a description and accepts any non-empty answer.
    """
    text = (answer or "").strip()
    if not text:
        return None
    form = _parse_format(fmt)
    if form is None:
        return text, [text]
    for candidate in [text, *text.splitlines()]:
        if len(candidate) > MAX_MATCH_CHARS:
            continue
        cleaned = _clean_line(candidate)
        values = _fill(form, cleaned)
        if values is not None:
            return cleaned, values
    return None


def fill_format(final_format: str, value: Any) -> str:
    """`Answer: <liters>` with RESULT 1279.4304 -> `Answer: 1279.4304`: the deterministic fallback answer."""
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    filled, n = _PLACEHOLDER.subn(lambda _m: text, final_format.strip().strip("'\"`").strip(), count=1)
    return filled if n else text


# -- echoes --------------------------------------------------------------------------------------------

def echo_of(answer: str, prompt_texts: Iterable[str], derived: Iterable[str] = ()) -> str:
    """Why `answer` is an echo of its prompt ('' when it is not): FAILED lines, the results listing,
    prompt section markers, an unfilled placeholder, or any long prompt line repeated verbatim, except
    a line that is itself one of the answer's `derived` values (a doctest's expected output that the
    code really computed is the answer, not an echo)."""
    text = answer or ""
    allowed = {" ".join(str(v).split()) for v in derived}
    if "FAILED:" in text:
        return "it contains a FAILED: line of the results listing"
    if _RESULT_LINE.search(text):
        return "it repeats the numbered results listing"
    if _PROMPT_MARKERS.search(text):
        return "it repeats the prompt's section headers"
    norm = " ".join(text.split())
    for prompt in prompt_texts:
        for line in str(prompt).splitlines():
            line = _PROMPT_MARKERS.sub("", " ".join(line.split())).strip()
            if len(line) >= 24 and line in norm and line not in allowed:
                return f"it repeats the prompt line {line[:60]!r}"
    return ""


# -- derivation ------------------------------------------------------------------------------------------

def _leaves(value: Any, out: list[Any], depth: int = 0) -> None:
    if len(out) >= _MAX_LEAVES or depth > 6:
        return
    out.append(value)
    if isinstance(value, dict):
        for k, v in value.items():
            _leaves(k, out, depth + 1)
            _leaves(v, out, depth + 1)
    elif isinstance(value, (list, tuple, set)):
        for v in value:
            _leaves(v, out, depth + 1)
    elif isinstance(value, str):
        for m in _NUMBER.finditer(value):
            if len(out) >= _MAX_LEAVES:
                return
            if any(ch.isdigit() for ch in m.group(0)):
                n = _to_float(m.group(0))
                if n is not None:
                    out.append(n)


def _to_float(text: str) -> float | None:
    try:
        v = float(text.replace(",", ""))
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _numeric_value(text: str) -> tuple[float, float] | None:
    """(value, tolerance) of a number as written (`$1,279.43`, `12 km`, `25%`): the tolerance is half
    a unit of its last written digit, so a correctly rounded result counts as the same number."""
    m = _NUMERIC_VALUE.fullmatch(text.strip())
    if not m:
        return None
    value = _to_float(m.group(1) + (m.group(2) or ""))
    if value is None:
        return None
    digits = m.group(1).split(".", 1)
    decimals = len(digits[1]) if len(digits) == 2 else 0
    exp = int(m.group(2)[1:]) if m.group(2) else 0
    return value, 0.5 * 10.0 ** (exp - decimals)


def _is_number(v: Any) -> bool:
    """A finite int or float that a float can hold; an int past 1.8e308 (model code computes those) is
    compared as text, exactly, instead of crashing the verdict."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= max(tol, 1e-9, 1e-6 * abs(b))


def _norm_text(v: Any) -> str:
    try:
        s = v if isinstance(v, str) else json.dumps(v, default=repr, ensure_ascii=False)
    except ValueError:  # an int of more digits than Python converts to text (sys.get_int_max_str_digits)
        return ""
    s = _clean_line(s).rstrip(".").strip().lower()
    return re.sub(r"\s+", "", s)


def _same_structure(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return _close(float(a), float(b), 0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_structure(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(map(str, a)) == set(map(str, b)) and all(
            _same_structure(a[k], {str(kk): vv for kk, vv in b.items()}[str(k)]) for k in a)
    return _norm_text(a) == _norm_text(b)


def _literal(text: str) -> Any:
    for load in (json.loads, ast.literal_eval):
        try:
            return load(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return None


def value_derived(value: str, results: list[Any]) -> bool:
    """Whether the answer's `value` (text) matches a successful RESULT or a part of one."""
    leaves: list[Any] = []
    for r in results:
        _leaves(r, leaves)
    numeric = _numeric_value(value)
    if numeric is not None:
        n, tol = numeric
        if any(_is_number(x) and _close(float(x), n, tol) for x in leaves):
            return True
    parsed = _literal(value)
    if isinstance(parsed, (list, tuple, dict)):
        if any(isinstance(x, (list, tuple, dict)) and _same_structure(parsed, x) for x in leaves):
            return True
    target = _norm_text(value)
    return bool(target) and any(_norm_text(x) == target for x in leaves if not _is_number(x) or numeric is None)


# -- the verdict -----------------------------------------------------------------------------------------

def judge(answer: str | None, fmt: str, results: list[Any], *, prompt_texts: Iterable[str] = (),
          check_echo: bool = True) -> AnswerVerdict:
    """Accept `answer` only in `fmt` and derived from `results` (the RESULTs of successful code runs)."""
    text = (answer or "").strip()
    if not text:
        return AnswerVerdict(None, "empty_answer", REASONS["empty_answer"])
    if not results:
        return AnswerVerdict(None, "no_successful_code", REASONS["no_successful_code"])
    if check_echo:
        early = match_format(fmt, text)
        derived = [v for v in (early[1] if early else []) if value_derived(v, results)]
        why = echo_of(text, prompt_texts, derived)
        if why:
            return AnswerVerdict(None, "echo", f"the final reply is an echo of its prompt: {why}")
    if any(f"<{p}>" in text for p in _PLACEHOLDER.findall(fmt)):
        return AnswerVerdict(None, "echo", f"the final reply repeats the format {fmt!r} with its placeholder unfilled")
    matched = match_format(fmt, text)
    if matched is None:
        return AnswerVerdict(None, "format_mismatch", f"the final answer {text[:80]!r} is not in the format {fmt!r}")
    line, values = matched
    missing = [v for v in values if not value_derived(v, results)]
    if missing:
        return AnswerVerdict(None, "not_derived", f"{missing[0][:60]!r} matches no RESULT of a successful code run")
    return AnswerVerdict(line)


def fallback_answer(fmt: str, value: Any, results: list[Any]) -> AnswerVerdict:
    """`value` (the final step's RESULT) put into the format: derived by construction, checked all the same."""
    if not results:
        return AnswerVerdict(None, "no_successful_code", REASONS["no_successful_code"])
    if value is None:
        return AnswerVerdict(None, "not_derived", "the last step has no successful RESULT to answer from")
    matched = match_format(fmt, value) if isinstance(value, str) else None
    answer = matched[0] if matched else fill_format(fmt, value)
    return judge(answer, fmt, results, check_echo=False)
