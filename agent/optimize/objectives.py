"""Optimisation tasks for `hrm agent optimize`: the YAML file, its validation, and the objectives.

An objective turns a model answer into candidate strings (`extract`) and scores one candidate (`score`,
higher is better). Two kinds run fully offline:
  - `word_similarity`: guess a hidden word; a guess scores the cosine similarity of its embedding to the
    hidden word's (1.0 = found). Hash embeddings make this a spelling-distance game, model embeddings a
    (weak) semantic one.
  - `expression_fit`: find an arithmetic expression in x matching target values; a candidate scores
    -ln(1 + RMSE) (0.0 = exact fit). Expressions are parsed with `ast` and evaluated by a tiny interpreter
    that knows only numbers, x, + - * / ** and unary minus: model output is never passed to eval().
The file format is documented in docs/optimize.md. Every validation error names the file, the line and the
dotted key.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from hrm_agent.errors import AgentError
from hrm_engine.config import yaml_error_where

OBJECTIVE_KINDS = ("word_similarity", "expression_fit")
MAX_RMSE = 1e3  # errors are clipped here, so one wild candidate cannot swamp the GP
INVALID_EXPRESSION_SCORE = -math.log1p(MAX_RMSE)
_DATA_PLACEHOLDER = "{data}"


class TaskError(AgentError):
    """An optimisation task file that cannot be used (exit 2); the message starts with FILE:LINE: key."""


@dataclass
class Evaluation:
    score: float
    valid: bool
    detail: str = ""


class Objective(Protocol):
    kind: str

    def extract(self, text: str) -> list[str]:
        """Candidate strings in a model answer, normalised, in order, without duplicates."""
        ...

    def score(self, candidate: str) -> Evaluation: ...

    def prompt_data(self) -> str:
        """What replaces {data} in the task prompt (e.g. the table of target values)."""
        ...

    def describe(self) -> dict[str, Any]: ...


# -- answer parsing shared by both objectives --------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*•>]+|\(?\d{1,3}[.):]|[a-zA-Z][.)])\s+")
# `\s*(?:\d+\s*)?`, not `\s*\d*\s*`: two runs over the same spaces backtrack quadratically on model text
# (`answer` and 20,000 spaces took 10 s)
_LABEL = re.compile(r"^\s*(?:candidate|guess|answer|word|expression|solution)\s*(?:\d+\s*)?[:=-]\s*", re.I)


def _clean_line(line: str) -> str:
    line = line.strip().strip("`").strip()
    line = _BULLET.sub("", line)
    line = _LABEL.sub("", line)
    return line.strip().strip("`\"'*").strip()


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return [x for x in items if not (x in seen or seen.add(x))]


# -- word guessing -----------------------------------------------------------------------------------

_WORD = re.compile(r"^(?=.{1,24}$)[a-z]+(?:['-][a-z]+)?$")  # one word: letters, at most one ' or -
_STOP = set(
    """a an the and or of to in on for with is are was be it this that these those here there
some other more your my our their new word words secret guess guesses candidate candidates answer
sure okay ok yes no list line lines one two three four five six score scores previous none null""".split()
)


class WordSimilarity:
    """Score = cosine similarity between the embedding of a guessed word and of the hidden word."""

    kind = "word_similarity"

    def __init__(self, hidden: str, embedding: str = "hash", model_path: str | None = None) -> None:
        self.hidden = hidden.strip().lower()
        self.embedding = embedding
        self.model_path = model_path
        self._embedder: Any = None
        self._target: Any = None

    def _embed(self, word: str) -> Any:
        if self._embedder is None:
            from hrm_agent.optimize.embedding import make_embedder

            self._embedder = make_embedder(self.embedding, model_path=self.model_path)
            self._target = self._embedder.embed([self.hidden])[0]
        return self._embedder.embed([word])[0]

    def extract(self, text: str) -> list[str]:
        words: list[str] = []
        for raw in (text or "").splitlines():
            line = _clean_line(raw).lower()
            parts = [p.strip(" .!?;:\"'`*()") for p in re.split(r"[,;/]| or ", line)]
            for part in parts:
                if _WORD.match(part) and part not in _STOP:
                    words.append(part)
                elif part and " " in part:
                    # "ocean - because ..." or "ocean (the sea)": keep a leading word before a separator
                    # each whitespace run tried from its start only (`(?<!\s)`): linear, not quadratic
                    head = re.split(r"(?<!\s)\s+[-–:(]\s*|(?<!\s)\s*\(", part)[0].strip(" .!?\"'")
                    if head != part and _WORD.match(head) and head not in _STOP:
                        words.append(head)
        return _unique(words)

    def score(self, candidate: str) -> Evaluation:
        word = candidate.strip().lower()
        if not _WORD.match(word):
            return Evaluation(-1.0, False, "not a single word")
        vec = self._embed(word)
        sim = float(vec @ self._target)
        return Evaluation(
            1.0 if word == self.hidden else round(sim, 6),
            True,
            "found the hidden word" if word == self.hidden else "",
        )

    def prompt_data(self) -> str:
        return f"The secret word has {len(self.hidden)} letters."

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "embedding": self.embedding, "hidden_length": len(self.hidden)}


# -- expression fitting ------------------------------------------------------------------------------

_ALLOWED_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: None,
}
_MAX_NODES = 80
_MAX_EXPONENT = 8.0
_MAX_MAGNITUDE = 1e12


class ExpressionError(ValueError):
    """Not an allowed arithmetic expression, or not evaluable at some x."""


def parse_expression(text: str, variable: str = "x", max_length: int = 120) -> ast.Expression:
    """Parse `text` as arithmetic in `variable`; raise ExpressionError naming the first forbidden part."""
    if len(text) > max_length:
        raise ExpressionError(f"longer than {max_length} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error ({exc.msg})") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > _MAX_NODES:
        raise ExpressionError(f"more than {_MAX_NODES} syntax nodes")
    for node in nodes:
        if isinstance(node, (ast.Expression, ast.operator, ast.unaryop, ast.expr_context)):
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _ALLOWED_BINOPS:
            continue
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            continue
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            continue
        if isinstance(node, ast.Name) and node.id == variable and isinstance(node.ctx, ast.Load):
            continue
        if isinstance(node, ast.Name):
            raise ExpressionError(f"unknown name {node.id!r} (only {variable} is allowed)")
        raise ExpressionError(f"{type(node).__name__} is not allowed (numbers, {variable}, + - * / ** only)")
    if not any(isinstance(n, ast.Name) for n in nodes):
        raise ExpressionError(f"does not use {variable}")
    return tree


def evaluate_expression(tree: ast.Expression, x: float) -> float:
    """Evaluate a tree accepted by `parse_expression` at x, in floats, with bounded powers and magnitudes."""

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(x)
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow):
                if abs(b) > _MAX_EXPONENT:
                    raise ExpressionError(f"exponent {b:g} larger than {_MAX_EXPONENT:g}")
                if a < 0 and b != int(b):
                    raise ExpressionError("negative number to a fractional power")
                if a == 0 and b < 0:
                    raise ExpressionError("division by zero")
                out = a**b
            else:
                try:
                    out = _ALLOWED_BINOPS[type(node.op)](a, b)
                except ZeroDivisionError:
                    raise ExpressionError("division by zero") from None
            if not math.isfinite(out) or abs(out) > _MAX_MAGNITUDE:
                raise ExpressionError("value out of range")
            return out
        raise ExpressionError(f"{type(node).__name__} is not allowed")

    return ev(tree.body)


class ExpressionFit:
    """Score = -ln(1 + min(RMSE, 1000)) against the target (x, y) pairs; 0.0 is an exact fit, an expression
    that cannot be evaluated at some x (division by zero, overflow) scores -ln(1001), the floor."""

    kind = "expression_fit"

    def __init__(self, xs: list[float], ys: list[float], variable: str = "x", max_length: int = 120) -> None:
        self.xs, self.ys = [float(v) for v in xs], [float(v) for v in ys]
        self.variable = variable
        self.max_length = max_length

    def normalise(self, line: str) -> str:
        """Model spellings into Python: `y = 2x^2 + 1.` -> `2*x**2 + 1`."""
        v = re.escape(self.variable)
        s = _clean_line(line)
        s = re.sub(rf"^\s*(?:y|f\s*\(\s*{v}\s*\))\s*=\s*", "", s)
        s = s.replace("^", "**").replace("×", "*").replace("−", "-").replace("·", "*")
        s = re.sub(rf"(\d)\s*(?={v}\b|\()", r"\1*", s)  # 2x, 3(x+1)
        s = re.sub(r"\)\s*(?=[\w(])", ")*", s)  # (x+1)(x-1), (x+1)x
        return s.strip().rstrip(".,;").strip()

    def _parsed(self, text: str) -> str | None:
        """The canonical spelling of `text` if it is an allowed expression, else None."""
        cand = self.normalise(text)
        try:
            parse_expression(cand, self.variable, self.max_length)
        except ExpressionError:
            return None
        return ast.unparse(ast.parse(cand, mode="eval"))

    def extract(self, text: str) -> list[str]:
        """Whole lines that are expressions; failing that, expressions inside a line of prose or code
        (`the polynomial (x + 2)(x - 3) where ...`, `y = 15 + x - 11  # ...`). A fragment must contain an
        operator, so a bare `x` mentioned in prose is not taken for a proposal."""
        found = []
        words = re.compile(r"[A-Za-z_]\w*|[=:,;#\[\]{}|?!]")
        for raw in (text or "").splitlines():
            whole = self._parsed(raw)
            if whole is not None:
                found.append(whole)
                continue
            marked = words.sub(lambda m: m.group(0) if m.group(0) == self.variable else "|", raw)
            for frag in marked.split("|"):
                frag = frag.strip().strip(".")
                if self.variable in frag and re.search(r"[-+*/^]|\d\s*" + re.escape(self.variable), frag):
                    cand = self._parsed(frag)
                    if cand is not None:
                        found.append(cand)
        return _unique(found)

    def score(self, candidate: str) -> Evaluation:
        try:
            tree = parse_expression(candidate, self.variable, self.max_length)
            preds = [evaluate_expression(tree, x) for x in self.xs]
        except ExpressionError as exc:
            return Evaluation(INVALID_EXPRESSION_SCORE, False, str(exc))
        rmse = math.sqrt(sum((p - y) ** 2 for p, y in zip(preds, self.ys)) / len(self.ys))
        return Evaluation(round(-math.log1p(min(rmse, MAX_RMSE)), 6) + 0.0, True, f"rmse={rmse:.6g}")

    def prompt_data(self) -> str:
        def fmt(v: float) -> str:
            return f"{v:g}"

        return "\n".join(f"{self.variable}={fmt(x)} -> y={fmt(y)}" for x, y in zip(self.xs, self.ys))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "points": len(self.xs), "variable": self.variable}


# -- the task file -----------------------------------------------------------------------------------


@dataclass
class OptimizerSettings:
    """How the search runs; every field can be set under `optimizer:` in the task file."""

    evaluations: int = 12
    initial: int = 4
    proposals_per_call: int = 4
    kernel: str = "matern52"
    acquisition: str = "ei"
    embedding: str = "model"
    neighbours: int = 3
    pool: int = 64
    temperature: float = 0.8
    max_tokens: int = 96
    retries: int = 3
    xi: float = 0.01
    beta: float = 2.0


@dataclass
class OptimizeTask:
    name: str
    path: str
    objective: Any
    task_prompt: str
    answer_format: str
    description: str = ""
    seeds: list[str] = field(default_factory=list)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    seed: int = 0

    def prompt(self) -> str:
        """The task text shown to the model, with {data} filled in."""
        return self.task_prompt.replace(_DATA_PLACEHOLDER, self.objective.prompt_data()).strip()


_TOP_KEYS = {
    "name": str,
    "description": str,
    "objective": dict,
    "prompt": dict,
    "seeds": list,
    "optimizer": dict,
    "seed": int,
}
_PROMPT_KEYS = {"task": str, "answer_format": str}
_OBJECTIVE_KEYS = {
    "word_similarity": {"kind": str, "hidden": str, "embedding": str},
    "expression_fit": {"kind": str, "x": list, "y": list, "target": str, "variable": str, "max_length": int},
}
_CHOICES = {
    "kernel": ("matern52", "rbf"),
    "acquisition": ("ei", "ucb", "thompson"),
    "embedding": ("model", "hash"),
}
_POSITIVE = {"evaluations", "initial", "proposals_per_call", "pool", "max_tokens", "retries", "neighbours"}


def _line_map(text: str) -> dict[str, int]:
    """dotted key -> 1-based line of the key (or list item) in the YAML text."""
    lines: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}.{key.value}" if prefix else str(key.value)
                lines[name] = key.start_mark.line + 1
                walk(value, name)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[f"{prefix}[{i}]"] = item.start_mark.line + 1
                walk(item, f"{prefix}[{i}]")

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, "")
    return lines


class _Checker:
    """Builds 'FILE:LINE: key: problem' errors."""

    def __init__(self, path: str, lines: dict[str, int]) -> None:
        self.path, self.lines = path, lines

    def error(self, key: str, problem: str) -> TaskError:
        probe = key
        while probe and probe not in self.lines:
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
        where = f"{self.path}:{self.lines[probe]}" if probe else self.path
        return TaskError(f"{where}: {key}: {problem}")

    def keys(self, data: dict[str, Any], allowed: dict[str, type], prefix: str) -> None:
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in allowed:
                close = difflib.get_close_matches(str(key), list(allowed), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
                raise self.error(name, f"unknown key; {hint}")
            want = allowed[key]
            ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
            if want is str and isinstance(value, (int, float)) and not isinstance(value, bool):
                ok = key not in ("task", "hidden")  # a number is fine as a name, not as the hidden word
                if ok:
                    data[key] = str(value)
            if not ok:
                raise self.error(name, f"must be {_type_name(want)}, got {_type_name(type(value))}")

    def numbers(self, values: list[Any], key: str) -> list[float]:
        out = []
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                raise self.error(f"{key}[{i}]", f"must be a finite number, got {v!r}")
            out.append(float(v))
        return out


def _type_name(t: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        dict: "a mapping",
        list: "a list",
        bool: "true/false",
        type(None): "empty",
    }.get(t, t.__name__)


def task_dir() -> Path:
    from hrm_engine.config import config_dir

    return config_dir() / "optimize"


def available_tasks() -> list[str]:
    folder = task_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def resolve_task_path(name: str | Path) -> Path:
    """A YAML path, or the name of a shipped task in configs/optimize/."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise TaskError(f"task file {path} does not exist; shipped tasks: {', '.join(available_tasks())}")
        return path
    candidate = task_dir() / f"{name}.yaml"
    if candidate.is_file():
        return candidate
    close = difflib.get_close_matches(str(name), available_tasks(), n=2, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else f"shipped tasks: {', '.join(available_tasks())}"
    raise TaskError(f"unknown optimisation task '{name}'; {hint}")


def load_task(name: str | Path, *, model_path: str | None = None) -> OptimizeTask:
    """Read and validate a task file (or shipped task name); errors name the file, line and key."""
    path = resolve_task_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"cannot read task file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where, problem = yaml_error_where(path, exc)
        raise TaskError(f"{where}: invalid YAML ({problem})") from None
    return parse_task(data, str(path), _line_map(text), model_path=model_path)


def parse_task(
    data: Any, path: str, lines: dict[str, int] | None = None, *, model_path: str | None = None
) -> OptimizeTask:
    """A task from its parsed YAML: the prompt, the objective, the optimizer settings, then the seeds, each
    checked in that order; the first problem raises a TaskError naming the file, line and key."""
    check = _Checker(path, lines or {})
    if not isinstance(data, dict):
        raise TaskError(f"{path}: a task file must be a YAML mapping with objective: and prompt:")
    check.keys(data, _TOP_KEYS, "")
    for required in ("objective", "prompt"):
        if required not in data:
            raise check.error(required, "missing (see docs/optimize.md for the format)")
    prompt = data["prompt"]
    check.keys(prompt, _PROMPT_KEYS, "prompt")
    if not str(prompt.get("task", "")).strip():
        raise check.error("prompt.task", "missing or empty: the text that tells the model what to propose")
    objective = _parse_objective(data["objective"], check, model_path)
    settings = _parse_optimizer(data.get("optimizer") or {}, check)
    seeds = _parse_seeds(data.get("seeds") or [], objective, data["objective"]["kind"], check)
    seed = data.get("seed", 0)
    return OptimizeTask(
        name=str(data.get("name") or Path(path).stem),
        path=path,
        objective=objective,
        task_prompt=str(prompt["task"]),
        description=str(data.get("description", "")).strip(),
        answer_format=str(prompt.get("answer_format") or "one candidate per line"),
        seeds=seeds,
        optimizer=settings,
        seed=int(seed),
    )


def _parse_objective(obj: Any, check: _Checker, model_path: str | None) -> Any:
    """`objective:`: its kind, then that kind's keys."""
    kind = obj.get("kind")
    if kind not in OBJECTIVE_KINDS:
        raise check.error("objective.kind", f"must be one of {', '.join(OBJECTIVE_KINDS)}, got {kind!r}")
    check.keys(obj, _OBJECTIVE_KEYS[kind], "objective")
    if kind == "word_similarity":
        return _parse_word_similarity(obj, check, model_path)
    return _parse_expression_fit(obj, check)


def _parse_word_similarity(obj: dict[str, Any], check: _Checker, model_path: str | None) -> WordSimilarity:
    hidden = str(obj.get("hidden", "")).strip().lower()
    if not _WORD.match(hidden):
        raise check.error("objective.hidden", f"must be one word of letters, got {obj.get('hidden')!r}")
    embedding = obj.get("embedding", "hash")
    if embedding not in _CHOICES["embedding"]:
        raise check.error("objective.embedding", f"must be one of model, hash, got {embedding!r}")
    return WordSimilarity(hidden, embedding, model_path=model_path)


def _parse_expression_fit(obj: dict[str, Any], check: _Checker) -> ExpressionFit:
    """The inputs x, and the targets as values (y) or as an expression of x (target), never both."""
    variable = obj.get("variable", "x")
    if not re.fullmatch(r"[a-z]", variable):
        raise check.error("objective.variable", f"must be one lowercase letter, got {variable!r}")
    if "x" not in obj:
        raise check.error("objective.x", "missing: the list of input values")
    xs = check.numbers(obj["x"], "objective.x")
    if not xs:
        raise check.error("objective.x", "must list at least one value")
    max_length = obj.get("max_length", 120)
    if max_length < 1:
        raise check.error("objective.max_length", f"must be >= 1, got {max_length}")
    if ("y" in obj) == ("target" in obj):
        raise check.error("objective", "give exactly one of y (target values) or target (an expression)")
    if "y" in obj:
        ys = check.numbers(obj["y"], "objective.y")
        if len(ys) != len(xs):
            raise check.error("objective.y", f"has {len(ys)} values but objective.x has {len(xs)}")
    else:
        try:
            tree = parse_expression(obj["target"], variable, 10_000)
            ys = [evaluate_expression(tree, x) for x in xs]
        except ExpressionError as exc:
            raise check.error("objective.target", f"{exc}") from None
    return ExpressionFit(xs, ys, variable, int(max_length))


def _parse_optimizer(opt: Any, check: _Checker) -> OptimizerSettings:
    """`optimizer:` over the defaults: known keys, each of its default's type, within its range."""
    settings = OptimizerSettings()
    types = {name: type(value) for name, value in vars(settings).items()}
    if not isinstance(opt, dict):
        raise check.error("optimizer", f"must be a mapping, got {_type_name(type(opt))}")
    for key, value in opt.items():
        name = f"optimizer.{key}"
        if key not in types:
            close = difflib.get_close_matches(str(key), list(types), n=1)
            raise check.error(
                name,
                f"unknown key; did you mean '{close[0]}'?"
                if close
                else f"unknown key; allowed: {', '.join(types)}",
            )
        if types[key] is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, types[key]) or isinstance(value, bool):
            raise check.error(name, f"must be {_type_name(types[key])}, got {value!r}")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise check.error(name, f"must be one of {', '.join(_CHOICES[key])}, got {value!r}")
        if key in _POSITIVE and value < 1:
            raise check.error(name, f"must be >= 1, got {value}")
        if key in ("temperature", "xi", "beta") and value < 0:
            raise check.error(name, f"must be >= 0, got {value}")
        setattr(settings, key, value)
    if settings.initial > settings.evaluations:
        raise check.error(
            "optimizer.initial",
            f"({settings.initial}) exceeds optimizer.evaluations ({settings.evaluations})",
        )
    return settings


def _parse_seeds(seeds: Any, objective: Any, kind: str, check: _Checker) -> list[str]:
    """`seeds:`, each a valid candidate for the objective, as the objective reads it."""
    for i, s in enumerate(seeds):
        if not isinstance(s, (str, int, float)) or isinstance(s, bool):
            raise check.error(f"seeds[{i}]", f"must be a string, got {s!r}")
        if not objective.extract(str(s)):
            raise check.error(f"seeds[{i}]", f"{s!r} is not a valid candidate for {kind}")
    return [objective.extract(str(s))[0] for s in seeds]
