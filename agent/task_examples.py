"""The examples a task states (`f(x) == y`, `f(x) is True`, doctests), checked against the agent's code.

A function-writing task usually shows what its function must return on an input: the coding suite writes
`is_palindrome("A man, a plan, a canal: Panama") is True.`, HumanEval a doctest (`>>> f(3)` and `6` on the
next line). Those examples are part of the prompt, not the hidden tests, so a controller may use them as a
person would: run the code on them and, when it gets another value, say so and let the model fix it. A run
whose code contradicts the task's own example is not an answer (hrm_agent.outcome: `example_failed`).

The check runs in the sandbox like any other code of the model's: the model's code, then each example call
in its own try block, with the mismatches as RESULT.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

_CALL_START = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(")
_DEFINES = re.compile(r"^[ \t]*def[ \t]+([A-Za-z_]\w*)[ \t]*\(", re.M)  # `[ \t]*`: linear on blank lines
MAX_EXAMPLES = 8


@dataclass(frozen=True)
class StatedExample:
    """One example of the task: a call of a function and the literal it must equal."""

    function: str
    call: str  # `is_palindrome("abba")`
    expected: str  # a Python literal: `True`, `[1, 2]`, `"fl"`


def _close_paren(text: str, start: int) -> int:
    """The index just after the parenthesis that closes the one at `start - 1`, or -1 (quotes respected)."""
    depth, i, quote = 1, start, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif ch == "\n":
            return -1
        i += 1
    return -1


def _literal_prefix(text: str) -> str | None:
    """The longest prefix of `text`'s first line that is a Python literal and ends where a word ends,
    trailing `.`, `,` and `;` dropped (`True.` -> `True`, `[1, 2]; f(3) == 4` -> `[1, 2]`)."""
    line = text.split("\n", 1)[0].strip()
    for end in range(len(line), 0, -1):
        if end < len(line) and line[end] not in " \t.,;":
            continue
        if re.match(r"\s*[-+*/%=<>]", line[end:]):  # `1 + 9 + 0 = 10`: a sum written out, not a literal
            continue
        piece = line[:end].rstrip(" \t.,;")
        if not piece:
            continue
        try:
            ast.literal_eval(piece)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        return piece
    return None


def _valid_call(call: str) -> bool:
    try:
        node = ast.parse(call, mode="eval").body
    except SyntaxError:
        return False
    if not isinstance(node, ast.Call):
        return False
    try:  # the arguments must be literals too: the example is data, never code to run on the host
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            ast.literal_eval(arg)
    except (ValueError, SyntaxError, TypeError):
        return False
    return True


def stated_examples(task: str) -> list[StatedExample]:
    """Every `f(args) == literal` (or `=>`, `==>`, `➞`, `->`, as HumanEval writes some),
    `f(args) is True|False|None` and doctest (`>>> f(args)` + next line) in the task, with literal
    arguments, in order, duplicates dropped."""
    out: list[StatedExample] = []
    seen: set[tuple[str, str]] = set()

    def add(name: str, call: str, expected: str | None) -> None:
        if expected is None or not _valid_call(call) or (call, expected) in seen:
            return
        seen.add((call, expected))
        out.append(StatedExample(name, call, expected))

    lines = task.splitlines()
    for i, line in enumerate(lines):  # doctests
        stripped = line.strip()
        if stripped.startswith(">>> ") and i + 1 < len(lines):
            call = stripped[4:].strip()
            m = _CALL_START.match(call)
            if m and _close_paren(call, m.end()) == len(call):
                add(m.group(1), call, _literal_prefix(lines[i + 1].strip()))
    for m in _CALL_START.finditer(task):  # inline `f(x) == y` / `f(x) is True`
        end = _close_paren(task, m.end())
        if end < 0:
            continue
        rest = task[end:]
        op = re.match(r"\s*(==>|==|=>|➞|->|is(?!\s+not)\s)\s*", rest)
        if not op:
            continue
        expected = _literal_prefix(rest[op.end():])
        if op.group(1).startswith("is") and expected not in ("True", "False", "None"):
            continue
        add(m.group(1), task[m.start():end], expected)
    return out[:MAX_EXAMPLES]


def defined_functions(code: str) -> set[str]:
    return set(_DEFINES.findall(code or ""))


def relevant_examples(task: str, code: str) -> list[StatedExample]:
    """The task's examples of the functions `code` defines (none when it defines none of them)."""
    names = defined_functions(code)
    return [ex for ex in stated_examples(task) if ex.function in names] if names else []


def check_program(code: str, examples: list[StatedExample]) -> str:
    """The model's code, then each example in its own try block; RESULT lists the mismatches."""
    cases = json.dumps([[ex.call, ex.expected] for ex in examples])
    checker = f'''

def __hrm_same(got, want):
    if isinstance(got, float) or isinstance(want, float):
        try:
            return abs(float(got) - float(want)) <= 1e-6 * max(1.0, abs(float(want)))
        except (TypeError, ValueError):
            return False
    if isinstance(got, tuple) and isinstance(want, list) or isinstance(got, list) and isinstance(want, tuple):
        return list(got) == list(want)
    return got == want


__hrm_mismatches = []
for __hrm_call, __hrm_want in {cases}:
    try:
        __hrm_got = eval(__hrm_call)
        if not __hrm_same(__hrm_got, eval(__hrm_want)):
            __hrm_mismatches.append([__hrm_call, __hrm_want, repr(__hrm_got)[:200]])
    except Exception as __hrm_exc:
        __hrm_mismatches.append([__hrm_call, __hrm_want, type(__hrm_exc).__name__ + ": " + str(__hrm_exc)[:200]])
RESULT = __hrm_mismatches
'''
    return f"{code.rstrip()}\n{checker}"


def describe(mismatches: list[Any]) -> list[str]:
    """`f(x) gave False; the task says True` for each mismatch the check program reported."""
    out = []
    for item in mismatches or []:
        if isinstance(item, (list, tuple)) and len(item) == 3:
            call, want, got = item
            out.append(f"{call} gave {got}; the task says {want}")
    return out


__all__ = ["StatedExample", "check_program", "defined_functions", "describe", "relevant_examples",
           "stated_examples"]
