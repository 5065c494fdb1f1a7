"""Run one agent task end to end: resolve config, make the backend, trace, control, record the result."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any, Callable

from hrm_agent.backends.chat import Backend
from hrm_agent.controllers import CONTROLLERS, controller_name
from hrm_agent.demos import DemoBank, demo_count
from hrm_agent.errors import AgentError, BackendError
from hrm_agent.outcome import REASONS
from hrm_agent.prompts import load_prompts
from hrm_agent.toolkit import Budget, Session
from hrm_agent.trace import TraceWriter, new_run_id
from hrm_agent.untrusted import clean_value
from hrm_agent.voting.ballot import sampling_from_config
from hrm_agent.voting.voted_controllers import VOTED_CONTROLLERS
from hrm_agent.watchdog import GRACE_S, Watchdog
from hrm_engine.run.directory import write_json_atomic


# Run before the model's code in every agent run: `math` is there already, since a small model writes
# math.sqrt(...) without the import as often as with it.
AGENT_PREAMBLE = "import math\n"


def backend_from_config(cfg: dict[str, Any]) -> Backend:
    from hrm_agent.backends.adapters import adapter_options  # `adapter:` (hrm agent tune) -> the mlx adapter path
    from hrm_agent.backends.http import MAX_REPLY_BYTES, make_backend

    return make_backend(cfg["backend"], model=cfg.get("model"), base_url=cfg.get("base_url"),
                        timeout=float(cfg.get("request_timeout_s", 120.0)), retries=int(cfg.get("retries", 2)),
                        max_reply_bytes=int(cfg.get("max_reply_bytes") or MAX_REPLY_BYTES), **adapter_options(cfg))


def _model_name(backend: Backend, deadline: float) -> str:
    """The backend's model, asked from a server within the run's deadline where it must be discovered."""
    resolve = getattr(backend, "resolve_model", None)
    return str(resolve(deadline)) if callable(resolve) else str(backend.model)


def sandbox_limits_from_config(cfg: dict[str, Any]) -> Any:
    from hrm_agent.sandbox.execute import SandboxLimits

    sb = dict(cfg.get("sandbox") or {})
    if cfg.get("hrm_checkpoint"):  # MLX and the checkpoint load inside the child before the code runs
        sb["memory_mb"] = max(int(sb.get("memory_mb", 512)), 2048)
        sb["wall_s"] = max(float(sb.get("wall_s", 20)), 60.0)
        sb["cpu_s"] = max(float(sb.get("cpu_s", 10)), 60.0)
    keys = ("cpu_s", "wall_s", "memory_mb", "output_bytes", "disk_mb", "max_processes", "allow_weak")
    return SandboxLimits(**{k: sb[k] for k in keys if k in sb})


def tool_read_paths(cfg: dict[str, Any]) -> list[str]:
    """Host paths the sandbox must show read-only: the checkpoint behind hrm_solve, when there is one."""
    return [str(Path(cfg["hrm_checkpoint"]).resolve())] if cfg.get("hrm_checkpoint") else []


def hrm_tool_preamble(checkpoint: str | None) -> str:
    """Python run in the sandbox before the solver's code: defines `hrm_solve(grid)` on a trained HRM."""
    if not checkpoint:
        return ""
    from hrm_agent.sandbox.hrm_tool import preamble

    return preamble(checkpoint)


def _tool_help(cfg: dict[str, Any]) -> str:
    if not cfg.get("hrm_checkpoint"):
        return ""
    from hrm_agent.sandbox.hrm_tool import HELP

    return HELP




def _text(value: Any) -> str | None:
    """A candidate answer as text for result.json (a RESULT may be any value)."""
    if value is None or isinstance(value, str):
        return value
    return repr(value)[:2000]


class _RunEnd:
    """The one place a run ends: the final events, run_end and result.json, written once, by whichever of
    the run itself and its watchdog (hrm_agent.watchdog) gets there first."""

    def __init__(self, run_dir: Path, trace: TraceWriter, session: Session, head: dict[str, Any], t0: float) -> None:
        self.run_dir, self.trace, self.session, self.head, self.t0 = run_dir, trace, session, head, t0
        self._lock = threading.Lock()
        self.result: dict[str, Any] | None = None

    def finish(self, outcome: dict[str, Any], model: str) -> dict[str, Any] | None:
        """Write the run's outcome; None when the watchdog has ended the run already."""
        with self._lock:
            if self.result is not None:
                return None
            final = outcome.get("final") or None  # the controller's judged answer (hrm_agent.outcome)
            reason = "" if final else (outcome.get("reason") or "no_successful_code")
            detail = "" if final else (outcome.get("reason_detail") or REASONS.get(reason, ""))
            self.result = self._write(outcome, final, reason, detail, model)
            return self.result

    def hang(self, wall_s: float, grace_s: float) -> dict[str, Any] | None:
        """The watchdog's end: verdict timeout with what the run had done; None when the run ended first."""
        with self._lock:
            if self.result is not None:
                return None
            detail = (f"a step of the run did not return within its wall-clock limit of {wall_s:g} s "
                      f"(+{grace_s:g} s): the watchdog ended it")
            with self.trace.lock:  # a stuck step may be mid-emit on another thread: the watchdog's events follow
                self.session.fail("timeout", detail)
                self.result = self._write({"stop_reason": "timeout", "rounds": None}, None, "timeout", detail,
                                          self.head["model"])
            return self.result

    def _write(self, outcome: dict[str, Any], final: str | None, reason: str, detail: str,
               model: str) -> dict[str, Any]:
        s, trace = self.session, self.trace
        status = "answered" if final else "no_answer"
        trace.emit("final", answer=final, status=status, reason=reason, reason_detail=detail,
                   candidate=_text(outcome.get("candidate")), answer_format=outcome.get("answer_format"))
        result = clean_value({
            **self.head, "model": model, "final": final, "status": status, "reason": reason,
            "reason_detail": detail, "candidate": _text(outcome.get("candidate")),
            "answer_format": outcome.get("answer_format"), "stop_reason": outcome.get("stop_reason"),
            "rounds": outcome.get("rounds"), "plan": outcome.get("plan"), "model_calls": s.model_calls,
            "code_runs": s.code_runs, "example_checks": s.example_checks, "examples_failed": s.examples_failed,
            "prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
            "wall_s": round(time.monotonic() - self.t0, 3), "failures": [f.to_dict() for f in list(s.failures)],
            "trace": str(trace.path), **({"voting": outcome["voting"]} if outcome.get("voting") else {}),
        })
        trace.emit("run_end", **{k: v for k, v in result.items() if k not in ("task", "trace", "candidate")})
        trace.seal()  # a step still running after the watchdog's end writes nothing more
        write_json_atomic(self.run_dir / "result.json", result)
        return result


def run_agent(cfg: dict[str, Any], task: str, *, context: dict[str, Any] | None = None,
              backend: Backend | None = None, run_id: str | None = None,
              listener: Callable[[dict[str, Any]], None] | None = None, hard_exit: bool = False,
              on_timeout: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run `task` with the controller in `cfg`; returns the result dict also written to result.json.

    A step that has not returned by the run's deadline plus hrm_agent.watchdog.GRACE_S is ended by the
    watchdog: verdict `timeout`, the trace's run_end and result.json written, `on_timeout(result)` called;
    with `hard_exit` (the CLI) the process then exits with status 1. In process (bench, tests) the watchdog
    writes the result and this call returns it once the stuck step returns.
    """
    if not task or not task.strip():
        raise AgentError("the task is empty: pass the task text, e.g. hrm agent run \"What is 17 * 23?\"")
    name = controller_name(cfg["controller"])
    controller = CONTROLLERS.get(name)
    if controller is None:
        raise AgentError(f"unknown controller {cfg['controller']!r}; choose one of: {', '.join(CONTROLLERS)} "
                         f"(hrm is the old name of hierarchical)")
    cfg = {**cfg, "controller": name}
    prompts = load_prompts(cfg.get("prompts") or "default")
    demo_count(cfg)  # a bad `demos` value is a usage error before anything starts
    budget = Budget.from_config(cfg.get("budget") or {})
    if budget.max_rounds < 1 or budget.max_model_tokens < 1 or budget.wall_s <= 0:
        raise AgentError("budget values must be positive (budget.max_rounds, budget.max_model_tokens, budget.wall_s)")
    sampling = sampling_from_config(cfg)  # a bad --samples/--min-agreement: one line, before anything runs
    if sampling.voting:  # the token budget is per sample (docs/agent-voting.md)
        budget = dataclasses.replace(budget, max_model_tokens=budget.max_model_tokens * sampling.samples)
        controller = VOTED_CONTROLLERS[name]
    limits = sandbox_limits_from_config(cfg)
    from hrm_agent.sandbox.execute import require_isolation

    isolation = require_isolation(limits)  # before any model call: no OS boundary, no run (unless accepted)
    preamble = AGENT_PREAMBLE + hrm_tool_preamble(cfg.get("hrm_checkpoint"))
    backend = backend or backend_from_config(cfg)
    run_id = run_id or new_run_id()
    run_dir = Path(cfg.get("runs_dir") or "runs/agent") / run_id
    context = dict(context or {})
    t0 = time.monotonic()  # the one clock of the run: its deadline is t0 + budget.wall_s
    model = _model_name(backend, t0 + budget.wall_s)
    with TraceWriter(run_dir, listener=listener) as trace:
        trace.emit("run_start", run_id=run_id, task=task, controller=cfg["controller"], backend=backend.name,
                   model=model, context=context, config=cfg, isolation=isolation.as_dict())
        session = Session(backend=backend, prompts=prompts, budget=budget, trace=trace, sandbox_limits=limits,
                          preamble=preamble, read_paths=tool_read_paths(cfg), tool_help=_tool_help(cfg),
                          temperature=float(cfg.get("temperature", 0.0)),
                          demos=DemoBank(prompts, demo_count({**cfg, "backend": backend.name})),
                          reply_grammars=bool(cfg.get("reply_grammars", True)),
                          sampling=sampling if sampling.voting else None, t0=t0)
        end = _RunEnd(run_dir, trace, session, {"run_id": run_id, "task": task, "controller": cfg["controller"],
                                                "backend": backend.name, "model": model}, t0)

        def hang() -> bool:
            result = end.hang(budget.wall_s, GRACE_S)
            if result is not None and on_timeout is not None:
                on_timeout(result)
            return result is not None

        error = None
        with Watchdog(t0 + budget.wall_s, hang, hard_exit=hard_exit, stacks=run_dir / "watchdog-stacks.txt"):
            try:
                outcome = controller(session, task, context)
            except BackendError as exc:
                session.fail("backend_error", str(exc))
                outcome, error = {"rounds": 0, "stop_reason": "backend_error", "final": None,
                                  "reason": "backend_error", "reason_detail": f"the model backend failed: {exc}"}, exc
            result = end.finish(outcome, str(backend.model))
        if result is None:  # the watchdog ended the run while the step was stuck; it has written the result
            if hard_exit:
                threading.Event().wait()  # the watchdog exits the process
            result = end.result
            error = None
    assert result is not None
    if error is not None and not session.model_calls:
        raise error  # the backend never answered: a one-line error and exit 3 for the user
    return result
