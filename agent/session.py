"""What both controllers share: budgets, model calls with one repair, sandboxed code, failure records.

Keeping this in one place is what makes the flat baseline a fair comparison: the same model, the
same tool, the same budget accounting and the same failure taxonomy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from hrm_agent.chat import Backend, Message
from hrm_agent.errors import BackendError
from hrm_agent.parsing import ParseError, SpecError, extract_json, validate
from hrm_agent.trace import TraceWriter

# The failure taxonomy (seed 004): every recorded failure has exactly one of these.
CATEGORIES = ("parse_error", "spec_error", "tool_misuse", "plan_drift", "verification_gap", "timeout", "budget",
              "backend_error")


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
    tool_help: str = ""  # shown to the solver when the preamble defines functions (hrm_solve)
    temperature: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0
    code_runs: int = 0
    failures: list[Failure] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    # -- budget -------------------------------------------------------------------------------
    @property
    def tokens_used(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

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
    def call(self, role: str, messages: list[Message], max_tokens: int | None = None) -> str:
        """One model call, budget-checked and traced."""
        self.check_budget()
        limit = min(max_tokens or self.budget.max_tokens_per_call, self.budget.max_tokens_per_call)
        try:
            res = self.backend.chat(messages, max_tokens=limit, temperature=self.temperature)
        except BackendError as exc:
            self.trace.emit("error", role=role, message=str(exc))
            raise
        self.model_calls += 1
        self.prompt_tokens += res.prompt_tokens
        self.completion_tokens += res.completion_tokens
        self.trace.emit("model_call", role=role, messages=messages, response=res.text,
                        prompt_tokens=res.prompt_tokens, completion_tokens=res.completion_tokens,
                        latency_s=round(res.latency_s, 3), finish_reason=res.finish_reason)
        return res.text

    def call_json(self, role: str, messages: list[Message], schema: dict[str, Any],
                  example: str) -> dict[str, Any] | None:
        """A JSON answer checked against `schema`; one repair prompt, then a recorded failure (None)."""
        text = self.call(role, messages)
        for attempt in range(2):
            try:
                return validate(extract_json(text), schema)
            except ParseError as exc:
                kind = "spec_error" if isinstance(exc, SpecError) else "parse_error"
                if attempt == 1:
                    self.fail(kind, f"{role}: {exc} (after one repair)", role)
                    return None
                self.trace.emit("repair", role=role, error=str(exc))
                messages = [*messages, {"role": "assistant", "content": text},
                            {"role": "user", "content": self.prompts["repair"].format(error=exc, example=example)}]
                text = self.call(role, messages)
        return None

    # -- tool ---------------------------------------------------------------------------------
    def run_code(self, code: str, variables: dict[str, Any], role: str) -> Any:
        """Run code in the sandbox, traced; failures get tool_misuse or timeout."""
        from hrm_agent.sandbox import run_code

        self.check_budget(tokens=False)  # code already written costs no tokens: run it
        self.trace.emit("code", role=role, code=code)
        res = run_code(code, variables=variables, limits=self.sandbox_limits, preamble=self.preamble)
        self.code_runs += 1
        self.trace.emit("exec", role=role, ok=res.ok, exit_reason=res.exit_reason, result=_jsonable(res.result),
                        result_repr=res.result_repr[:2000], stdout=res.stdout[-2000:], stderr=res.stderr[-2000:],
                        error=res.error, duration_s=round(res.duration_s, 3))
        if not res.ok:
            category = "timeout" if res.exit_reason in ("timeout", "cpu_limit") else "tool_misuse"
            self.fail(category, f"code {res.exit_reason}: {res.error}".strip(), role)
        return res


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
