"""The controllers' toolkit (`Session`, one per run): budgets, model calls with one repair, sandboxed code,
failure records.

Keeping this in one place is what makes the flat baseline a fair comparison: the same model, the
same tool, the same budget accounting and the same failure taxonomy.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel

from hrm_agent.backends.chat import Backend, Message
from hrm_agent.errors import BackendError, CallCut, DeadlineExceeded
from hrm_agent.parsing import ParseError, SpecError
from hrm_agent.schemas import parse_reply, response_schema
from hrm_agent.trace import TraceWriter

# The failure taxonomy (seed 004): every recorded failure has exactly one of these.
CATEGORIES = ("parse_error", "spec_error", "tool_misuse", "plan_drift", "verification_gap", "timeout", "budget",
              "backend_error")


CODE_ROLES = ("solver", "flat")  # the roles whose replies are a python block (the code-block grammar)
# ChatResult.extra keys worth a place in the trace: how the tokens were counted, what was cut.
_NOTED_EXTRA = ("estimated_tokens", "reported_completion_tokens", "truncated_chars", "structured", "split_usage")


@dataclass
class Budget:
    """Limits of one run; hitting one ends the run with a stated reason."""

    max_rounds: int = 2
    max_model_tokens: int = 6000
    max_tokens_per_call: int = 320
    wall_s: float = 900.0
    max_subgoals: int = 4

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Budget:
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__ if k in cfg})


class BudgetExhausted(Exception):
    """Raised inside a controller when a limit is hit; `category` is "budget" or "timeout"."""

    def __init__(self, category: str, detail: str) -> None:
        super().__init__(detail)
        self.category, self.detail = category, detail


@dataclass
class Failure:
    category: str
    detail: str
    role: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"category": self.category, "detail": self.detail, "role": self.role}


@dataclass
class Session:
    """One agent run's resources and counters."""

    backend: Backend
    prompts: dict[str, Any]
    budget: Budget
    trace: TraceWriter
    sandbox_limits: Any = None
    preamble: str = ""
    read_paths: list[str] = field(default_factory=list)  # bound read-only into the sandbox (checkpoint)
    tool_help: str = ""  # shown to the solver when the preamble defines functions (hrm_solve)
    temperature: float = 0.0
    demos: Any = None  # a hrm_agent.demos.DemoBank: worked examples put before planner/solver/flat calls
    reply_grammars: bool = False  # solver/flat replies as a RESULT block, the synthesizer's in its format (mlx)
    sampling: Any = None  # a hrm_agent.voting.ballot.Sampling: K sampled programs vote (None: one greedy program)
    seeds_used: int = 0  # sample seeds drawn so far: no two samples of a run share one
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0
    code_runs: int = 0
    example_checks: int = 0  # runs of the task's stated examples (hrm_agent.task_examples)
    examples_failed: int = 0  # of which the code contradicted an example
    failures: list[Failure] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    # -- budget -------------------------------------------------------------------------------
    @property
    def tokens_used(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    @property
    def deadline(self) -> float:
        """The monotonic time the run must end by: every model call and code run is held to it."""
        return self.t0 + self.budget.wall_s

    def check_budget(self, tokens: bool = True) -> None:
        if self.elapsed() >= self.budget.wall_s:
            raise BudgetExhausted("timeout", f"wall-clock limit of {self.budget.wall_s:g} s reached")
        if tokens and self.tokens_used >= self.budget.max_model_tokens:
            raise BudgetExhausted("budget", f"model token budget of {self.budget.max_model_tokens} used up "
                                            f"({self.tokens_used} tokens)")

    # -- failures -----------------------------------------------------------------------------
    def fail(self, category: str, detail: str, role: str = "") -> Failure:
        assert category in CATEGORIES, category
        f = Failure(category, detail, role)
        self.failures.append(f)
        self.trace.emit("failure", **f.to_dict())
        return f

    # -- model --------------------------------------------------------------------------------
    def call(self, role: str, messages: list[Message], max_tokens: int | None = None,
             schema: dict[str, Any] | None = None, answer_format: str | None = None) -> str:
        """One model call, budget-checked and traced; with a JSON `schema` the backend generates under it.
        With `reply_grammars`, on a backend that takes grammars, solver and flat replies are generated as a
        python block ending `RESULT = ...`, and a reply given an `answer_format` as one line in it."""
        self.check_budget()
        limit = min(max_tokens or self.budget.max_tokens_per_call, self.budget.max_tokens_per_call)
        start = time.monotonic()
        kw: dict[str, Any] = {"schema": schema} if schema is not None else {}
        if self.demos:
            messages = self.demos.apply(role, messages)
        kw.update(self._grammar(role, schema, answer_format))
        try:
            res = self.backend.chat(messages, max_tokens=limit, temperature=self.temperature,
                                    deadline=self.deadline, **kw)
        except CallCut as exc:
            return self._cut_call(role, messages, exc, time.monotonic() - start)
        except BackendError as exc:
            self.trace.emit("error", role=role, message=str(exc))
            raise
        self._count(role, messages, res, limit)
        return res.text

    def call_samples(self, role: str, conversations: list[list[Message]],
                     on_reply: Callable[[int, str], bool] | None = None) -> list[str | None]:
        """One sampled reply per conversation (self-consistency, hrm_agent.voting): at the sampling
        temperature, each with a seed no other sample of the run had, in one batched call where the backend
        allows (equal prompts prefilled once on the local model, OpenAI's `n` on a server). Each reply is a
        `model_call` with `sample`, `seed` and `batch`; a prompt read once for several samples counts once.

        `on_reply(i, text)` handles reply i as soon as it is there: on the local model as each one finishes,
        and when it returns True the replies still generating are stopped (`finish_reason: cut`, returned as
        None: the caller's vote is settled); other backends hand all replies over at once, in order."""
        self.check_budget()
        limit = self.budget.max_tokens_per_call
        start = time.monotonic()
        if self.demos:
            conversations = [self.demos.apply(role, messages) for messages in conversations]
        first = self.sampling.seed + self.seeds_used
        seeds = list(range(first, first + len(conversations)))
        self.seeds_used += len(conversations)
        from hrm_agent.backends.sampling import sample_replies, takes

        heard: set[int] = set()

        def count(i: int, res: Any) -> None:
            self._count(role, conversations[i], res, limit, sample=i, seed=seeds[i], batch=len(conversations),
                        **({"shared_prefill": True} if res.extra.get("shared_prefill") else {}))

        def on_result(i: int, res: Any) -> bool:
            count(i, res)
            heard.add(i)
            return bool(on_reply(i, res.text)) if on_reply is not None else False

        live = {"on_result": on_result} if on_reply is not None and takes(self.backend, "on_result") else {}
        try:
            results = sample_replies(self.backend, conversations, seeds=seeds, max_tokens=limit,
                                     temperature=self.sampling.temperature, deadline=self.deadline,
                                     **self._grammar(role, None, None), **live)
        except CallCut as exc:
            return [self._cut_call(role, conversations[0], exc, time.monotonic() - start)] * len(conversations)
        except BackendError as exc:
            self.trace.emit("error", role=role, message=str(exc))
            raise
        texts: list[str | None] = []
        for i, res in enumerate(results):
            if i not in heard:
                count(i, res)
                if res.finish_reason != "cut" and on_reply is not None:
                    on_reply(i, res.text)
            texts.append(None if res.finish_reason == "cut" else res.text)
        return texts

    def _grammar(self, role: str, schema: dict[str, Any] | None, answer_format: str | None) -> dict[str, Any]:
        """With `reply_grammars`, on a backend that takes grammars: the code-block grammar for solver and flat
        replies, the answer format's for a reply given one."""
        if not (self.reply_grammars and schema is None and getattr(self.backend, "supports_grammar", False)):
            return {}
        from hrm_agent.constrained import CODE_BLOCK_GRAMMAR, format_grammar

        grammar = CODE_BLOCK_GRAMMAR if role in CODE_ROLES else (
            format_grammar(answer_format) if answer_format else None)
        return {"grammar": grammar} if grammar else {}

    def _count(self, role: str, messages: list[Message], res: Any, limit: int, **sample: Any) -> None:
        """A reply's tokens on the run's budget, and its `model_call` event; a prompt another sample of the
        same batch already read (`shared_prefill`) is not counted again."""
        self.model_calls += 1
        if not sample.get("shared_prefill"):
            self.prompt_tokens += res.prompt_tokens
        self.completion_tokens += res.completion_tokens
        noted = {k: res.extra[k] for k in _NOTED_EXTRA if k in res.extra}
        self.trace.emit("model_call", role=role, messages=messages, response=res.text,
                        prompt_tokens=res.prompt_tokens, completion_tokens=res.completion_tokens,
                        latency_s=round(res.latency_s, 3), finish_reason=res.finish_reason, **noted, **sample)
        if "truncated_chars" in noted:  # the server ignored max_tokens: its reply was cut to the limit here
            self.fail("budget", f"{role}: the reply ran past max_tokens_per_call ({limit}): "
                                f"{res.completion_tokens} tokens counted, cut to the limit", role)

    def _cut_call(self, role: str, messages: list[Message], exc: CallCut, latency: float) -> str:
        """A call the run's limits stopped: count what arrived, trace it, then end the run (deadline) or
        record a budget failure and go on with an empty reply (reply too large)."""
        prompt = sum(len(str(m.get("content", ""))) for m in messages) // 4
        completion = exc.completion_tokens if exc.completion_tokens is not None else -(-exc.received_bytes // 4)
        self.model_calls += 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        timed_out = isinstance(exc, DeadlineExceeded)
        self.trace.emit("model_call", role=role, messages=messages, response=exc.text, prompt_tokens=prompt,
                        completion_tokens=completion, estimated_tokens=exc.completion_tokens is None,
                        received_bytes=exc.received_bytes, latency_s=round(latency, 3),
                        finish_reason="timeout" if timed_out else "too_large", detail=str(exc))
        if timed_out:
            raise BudgetExhausted("timeout", f"wall-clock limit of {self.budget.wall_s:g} s reached during "
                                             f"the {role} call")
        self.fail("budget", str(exc), role)
        return ""

    def call_json(self, role: str, messages: list[Message], schema: type[BaseModel],
                  example: str) -> dict[str, Any] | None:
        """A reply generated under `schema` (a pydantic model, hrm_agent.schemas) and validated by it, as a
        dict; a reply that still does not fit (a backend that cannot enforce the schema, a reply cut at
        max_tokens) gets one repair prompt, then a recorded failure (None)."""
        generation = response_schema(schema)
        text = self.call(role, messages, schema=generation)
        for attempt in range(2):
            try:
                return parse_reply(text, schema).model_dump()
            except ParseError as exc:
                kind = "spec_error" if isinstance(exc, SpecError) else "parse_error"
                if attempt == 1:
                    self.fail(kind, f"{role}: {exc} (after one repair)", role)
                    return None
                self.trace.emit("repair", role=role, error=str(exc))
                messages = [*messages, {"role": "assistant", "content": text},
                            {"role": "user", "content": self.prompts["repair"].format(error=exc, example=example)}]
                text = self.call(role, messages, schema=generation)
        return None

    # -- tool ---------------------------------------------------------------------------------
    def run_code(self, code: str, variables: dict[str, Any], role: str) -> Any:
        """Run code in the sandbox, traced; failures get tool_misuse or timeout."""
        from hrm_agent.sandbox.execute import run_code

        self.check_budget(tokens=False)  # code already written costs no tokens: run it
        self.trace.emit("code", role=role, code=code)
        res = run_code(code, variables=variables, limits=self._code_limits(), preamble=self.preamble,
                       allowed_read_paths=self.read_paths)
        self.code_runs += 1
        self.trace.emit("exec", role=role, ok=res.ok, exit_reason=res.exit_reason, result=_jsonable(res.result),
                        result_repr=res.result_repr[:2000], stdout=res.stdout[-2000:], stderr=res.stderr[-2000:],
                        error=res.error, duration_s=round(res.duration_s, 3), isolation=res.isolation,
                        mode=res.mode, bounds=res.bounds)
        if not res.ok:
            category = "timeout" if res.exit_reason in ("timeout", "cpu_limit") else "tool_misuse"
            self.fail(category, f"code {res.exit_reason}: {res.error}".strip(), role)
        return res

    def check_examples(self, task: str, code: str, variables: dict[str, Any], role: str) -> list[str]:
        """Run `code` on the examples the task states for the functions it defines (hrm_agent.task_examples),
        in the sandbox; what did not match ([] when all did, or the task states none). A mismatch is a
        spec_error: the code contradicts the task's own words."""
        from hrm_agent.sandbox.execute import run_code
        from hrm_agent.task_examples import check_program, describe, relevant_examples

        examples = relevant_examples(task, code)
        if not examples:
            return []
        self.check_budget(tokens=False)
        res = run_code(check_program(code, examples), variables=variables, limits=self._code_limits(),
                       preamble=self.preamble, allowed_read_paths=self.read_paths)
        if res.ok:
            failed = describe(res.result if isinstance(res.result, list) else [])
        else:
            failed = [f"running the task's examples failed ({res.exit_reason}): {(res.error or '')[:200]}".strip()]
        self.example_checks += 1
        self.trace.emit("example_check", role=role, examples=[e.call for e in examples], ok=not failed,
                        failed=failed[:len(examples)])
        if failed:
            self.examples_failed += 1
            self.fail("spec_error", f"the code contradicts the task's example: {failed[0]}", role)
        return failed

    def _code_limits(self) -> Any:
        """The sandbox limits, with the wall limit no later than the run's deadline."""
        from hrm_agent.sandbox.execute import SandboxLimits

        limits = self.sandbox_limits or SandboxLimits()
        if not dataclasses.is_dataclass(limits):
            return limits
        left = self.deadline - time.monotonic()
        return dataclasses.replace(limits, wall_s=max(min(limits.wall_s, left), 0.1))


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
