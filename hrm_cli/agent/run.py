"""`hrm agent run` and `hrm agent show`: run the hierarchical LLM agent on a task, draw a trace (heavy imports
live inside the commands)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, List, Optional

import typer

from hrm_cli.agent.config import agent_config, read_context, read_task


def _verbose_listener(record: dict[str, Any]) -> None:
    """`--verbose`: one line per step on stderr; everything the model, server or code wrote goes through
    `shown` (controls written out, markup escaped)."""
    from hrm_cli.console import err_console, shown

    ev = record["event"]
    t = f"[dim]{record['elapsed_s']:7.1f}s[/]"
    if ev == "model_call":
        err_console.print(f"{t} [cyan]{shown(record['role'])}[/] {record['completion_tokens']} tokens in "
                          f"{record['latency_s']:.1f}s", highlight=False)
    elif ev == "plan":
        err_console.print(f"{t} [bold]plan[/] round {record['round']}: "
                          f"{' | '.join(shown(s) for s in record['subgoals'])}", highlight=False)
    elif ev == "subgoal_start":
        err_console.print(f"{t} [bold]subgoal {record['index']}[/]: {shown(record['subgoal'])}", highlight=False)
    elif ev == "exec":
        status = "[green]ok[/]" if record["ok"] else f"[red]{shown(record['exit_reason'])}[/]"
        detail = str(record.get("result_repr") or record.get("error") or "")[:280]
        err_console.print(f"{t} exec {status} {shown(detail)}", highlight=False)
    elif ev == "critique":
        err_console.print(f"{t} [bold]critic[/]: {shown(record['action'])} - {shown(record.get('reason', ''))}",
                          highlight=False)
    elif ev == "failure":
        err_console.print(f"{t} [yellow]{shown(record['category'])}[/] {shown(record['detail'])}", highlight=False)
    elif ev == "vote":
        err_console.print(f"{t} [bold]vote[/] {vote_line(record)}", highlight=False)


def vote_line(vote: dict[str, Any]) -> str:
    """`3 of 5 agree (3 needed): 391 x3, 390 x1, 1 no value`, the values written out (model-computed text)."""
    from hrm_cli.console import shown

    counts = ", ".join(f"{shown(c['value'])[:40]} x{c['votes']}" for c in vote.get("counts", [])[:5])
    missing = f", {vote['no_value']} no value" if vote.get("no_value") else ""
    short = "" if vote.get("agreed") else ", not met"
    return (f"{vote.get('agreement', 0)} of {vote.get('samples', '?')} agree ({vote.get('min_agreement')} "
            f"needed{short}): {counts or 'no values'}{missing}")


def _print_result(result: dict[str, Any]) -> None:
    """The answer on stdout (or why there is none on stderr) and the run's totals; model and server text
    shown with its control characters written out."""
    from hrm_agent.untrusted import visible
    from hrm_cli.console import console, err_console, shown

    if result["final"] is not None:
        console.print(visible(result["final"]), highlight=False, markup=False, emoji=False)
    else:
        err_console.print(f"[bold yellow]no answer[/] ({shown(result['reason'])}): {shown(result['reason_detail'])}",
                          highlight=False)
    if result.get("voting"):
        err_console.print(f"[dim]votes ({shown(result['voting'].get('decided_by', ''))}): "
                          f"{vote_line(result['voting'])}[/]", highlight=False)
    cats = ", ".join(sorted({f["category"] for f in result["failures"]})) or "none"
    rounds = "?" if result["rounds"] is None else result["rounds"]
    err_console.print(f"[dim]{result['controller']} on {result['backend']}:{shown(Path(str(result['model'])).name)}  "
                      f"{result['status']} ({result['reason'] or result['stop_reason']})  rounds {rounds}  "
                      f"calls {result['model_calls']}  tokens {result['prompt_tokens']}+{result['completion_tokens']}"
                      f"  {result['wall_s']:.1f}s  failures: {cats}\ntrace: {shown(result['trace'])}[/]", highlight=False)


def run_cmd(
    task: str = typer.Argument(..., help="The task text, or '-' to read it from stdin."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value config overrides (budget.max_rounds=3)."),
    controller: Optional[str] = typer.Option(None, "--controller", help="hierarchical (default; old name: hrm) or flat (baseline)."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="mlx (local, default), openai or ollama."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="mlx: model folder; servers: model name."),
    adapter: Optional[str] = typer.Option(None, "--adapter",
                                          help="mlx: a LoRA adapter from `hrm agent tune` (name or folder)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Server URL (OpenAI-compatible or Ollama)."),
    budget: Optional[int] = typer.Option(None, "--budget", help="Model tokens for the whole run."),
    max_rounds: Optional[int] = typer.Option(None, "--max-rounds", help="Plan/solve/critique rounds."),
    samples: Optional[int] = typer.Option(None, "--samples", "-k",
                                          help="Sample K programs per solver/flat step and vote on their RESULT."),
    min_agreement: Optional[int] = typer.Option(None, "--min-agreement",
                                                help="Votes the answer needs (default: more than half of K, >= 2)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Wall-clock limit of the run, seconds."),
    context: Optional[str] = typer.Option(None, "--context", help="Variables for the code: JSON object or file."),
    hrm_checkpoint: Optional[Path] = typer.Option(None, "--hrm-checkpoint",
                                                  help="Trained HRM run: code may call hrm_solve(grid)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="YAML over configs/agent.yaml."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Stream the steps to stderr as they happen."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Name of runs/agent/<id> (default: time-based)."),
    dashboard: bool = typer.Option(False, "--dashboard",
                                   help="Run in a background process and follow its trace in `hrm dashboard`."),
    allow_weak_sandbox: bool = typer.Option(False, "--allow-weak-sandbox",
                                            help="Run model code even where no OS sandbox exists (weaker)."),
) -> None:
    """Run the agent on TASK and print the final answer; the trace goes to runs/agent/<id>/trace.jsonl.

    Exit 0 with an answer (in the requested format, derived from a successful code RESULT), 1 without one
    (the reason is printed: no_successful_code, format_mismatch, not_derived, echo, budget, ...), 3 when the model server
    or local model cannot answer, or when this machine has no OS sandbox for the model's code
    (install bubblewrap, or accept the weaker isolation with --allow-weak-sandbox).

    Examples:
      hrm agent run "A tank holds 1200 L. It leaks 2% per hour for 3 hours, then is refilled by 150 L. Return exactly: 'Answer: <liters>'."
      hrm agent run "Infer the rule from TRAIN and apply it to TEST. Return exactly: 'Answer: <grid>'" --context '{"TRAIN": [{"inp": [[0,0],[1,0]], "out": [[1,1],[0,1]]}, {"inp": [[0,1],[0,0]], "out": [[1,0],[1,1]]}], "TEST": [[0,0],[0,1]]}'
      hrm agent run "What is 17 * 23?" --controller flat --backend openai --base-url http://127.0.0.1:8080
      hrm agent run "..." --backend ollama --model qwen2.5:7b-instruct --max-rounds 3 --verbose
      hrm agent run "What is 35 percent of 240?" --samples 5    # 5 programs vote; no answer unless 3 agree
      hrm agent run "What is 17 * 23?" demos=0 reply_grammars=false   # the local model without worked examples or grammars
    """
    from hrm_agent.runner import run_agent
    from hrm_agent.voting.ballot import sampling_from_config
    from hrm_cli.console import err_console, print_json

    cfg = agent_config(file, list(overrides or []), controller=controller, backend=backend, model=model,
                       adapter=adapter,
                       base_url=base_url, hrm_checkpoint=str(hrm_checkpoint) if hrm_checkpoint else None,
                       samples=samples, min_agreement=min_agreement,
                       **{"budget.max_model_tokens": budget, "budget.max_rounds": max_rounds, "budget.wall_s": timeout,
                          "sandbox.allow_weak": True if allow_weak_sandbox else None})
    sampling_from_config(cfg)  # a bad --samples/--min-agreement: one line and exit 2 before anything starts
    ctx = read_context(context)
    if run_id is not None and (not run_id or "/" in run_id or run_id.startswith(".")):
        from hrm_agent.errors import AgentError

        raise AgentError(f"--run-id {run_id!r} must be a plain folder name")
    if dashboard:
        from hrm_agent.trace import new_run_id
        from hrm_cli.dashboard_cmd import run_behind_dashboard

        rid = run_id or new_run_id()
        run_behind_dashboard(Path(cfg.get("runs_dir") or "runs/agent") / rid, [] if run_id else ["--run-id", rid],
                             "trace.jsonl")
        return
    if not as_json and cfg["backend"] == "mlx":
        err_console.print("[dim]loading the local model (first use converts it once, about a minute)...[/]")
    from hrm_cli.agent.render import RunStatus

    status = None if as_json else RunStatus(err_console, plain_lines=not verbose)  # the phase and elapsed time
    listeners = [f for f in (_verbose_listener if verbose else None, status.listener if status else None) if f]

    def listener(record: dict[str, Any]) -> None:
        for f in listeners:
            f(record)

    def show(result: dict[str, Any]) -> None:
        print_json(result) if as_json else _print_result(result)

    def on_timeout(result: dict[str, Any]) -> None:  # the watchdog's end: printed, then the process exits 1
        if status is not None:
            status.__exit__(None, None, None)
        show(result)

    with status if status is not None else contextlib.nullcontext():
        result = run_agent(cfg, read_task(task), context=ctx, run_id=run_id, listener=listener if listeners else None,
                           hard_exit=True, on_timeout=on_timeout)
    show(result)
    if result["final"] is None:
        raise typer.Exit(1)


def show_cmd(
    trace: Path = typer.Argument(..., help="A trace.jsonl or its runs/agent/<id> directory."),
    full: bool = typer.Option(False, "--full", help="Show whole prompts, code and outputs."),
    as_json: bool = typer.Option(False, "--json", help="Print the events as a JSON list."),
) -> None:
    """Draw an agent trace as a tree: plan, subgoals, model calls, code, results, critique, answer.

    Works on a run still in progress (shows what has been written so far).

    Examples:
      hrm agent show runs/agent/20261123-101500-ab12
      hrm agent show runs/agent/20261123-101500-ab12/trace.jsonl --full
    """
    from hrm_agent.trace_check import load_trace
    from hrm_cli.agent.render import trace_tree
    from hrm_cli.console import console, print_json

    events = load_trace(trace)  # binary, non-object or field-less events: one line, exit 2
    if as_json:
        print_json(events)
        return
    console.print(trace_tree(events, full=full))
