"""`hrm agent optimize TASK`: Bayesian optimisation via prompting (BOPRO) against random search."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

_BLOCKS = "▁▂▃▄▅▆▇█"


def _spark(values: list[float], lo: float, hi: float) -> str:
    """A one-line curve; both arms share lo/hi so their heights compare."""
    span = hi - lo
    return "".join(
        _BLOCKS[-1]
        if span <= 0
        else _BLOCKS[min(int((v - lo) / span * (len(_BLOCKS) - 1) + 0.5), len(_BLOCKS) - 1)]
        for v in values
    )


def _render(result: dict[str, Any], candidates: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from hrm_cli.console import console

    arms = list(result["curves"])
    by_arm: dict[str, dict[int, dict[str, Any]]] = {a: {} for a in arms}
    for rec in candidates:
        for a in arms:
            if rec["arm"] in (a, "initial"):
                by_arm[a][rec["evaluation"]] = rec
    table = Table(
        title=f"{result['task']}: best so far per objective evaluation (higher is better)",
        title_justify="left",
    )
    table.add_column("eval", justify="right")
    for a in arms:
        table.add_column(f"{a} best", justify="right")
        table.add_column(f"{a} candidate (score)", overflow="fold", max_width=36)
    n = max((len(c) for c in result["curves"].values()), default=0)
    for i in range(n):
        shared = all(by_arm[a].get(i + 1, {}).get("arm") == "initial" for a in arms)
        row = [f"{i + 1}*" if shared else str(i + 1)]
        for a in arms:
            curve = result["curves"][a]
            rec = by_arm[a].get(i + 1)
            row.append(f"{curve[i]:.4g}" if i < len(curve) else "")
            row.append("" if rec is None else f"{_escape(rec['candidate'])} ({rec['score']:.4g})")
        table.add_row(*row)
    console.print(table)
    if result.get("initial"):
        console.print("[dim]* shared initial design (seeds and plain proposals), the same in both arms[/]")
    values = [v for c in result["curves"].values() for v in c]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    for a in arms:
        s = result["arms"][a]
        best = (
            "none"
            if s["best_score"] is None
            else f"{s['best_score']:.4g} ({_escape(str(s['best_candidate']))})"
        )
        console.print(
            f"{a:>6} {_spark(result['curves'][a], lo, hi)}  best {best}  mean best-so-far "
            f"{s['mean_best_so_far'] if s['mean_best_so_far'] is None else round(s['mean_best_so_far'], 4)}"
            f"  model calls {s['model_calls']}  stop: {s['stop_reason']}",
            highlight=False,
        )
    console.print(
        f"[dim]{result['backend']}:{_escape(Path(str(result['model'])).name)}  embedding {result['embedding']}  "
        f"{result['kernel']} + {result['acquisition']}  seed {result['seed']}  {result['wall_s']:.1f}s\n"
        f"run: {result['run_dir']}[/]",
        highlight=False,
    )


def _escape(text: str) -> str:
    """A candidate (the model's words) for a markup string: controls written out, markup escaped."""
    from hrm_cli.console import shown

    return shown(text)


def _listener(record: dict[str, Any]) -> None:
    from hrm_cli.console import err_console

    ev, t = record["event"], f"[dim]{record['elapsed_s']:7.1f}s[/]"
    if ev == "candidate":
        err_console.print(
            f"{t} [bold]{record['arm']:>7}[/] #{record['evaluation']:<3} "
            f"{_escape(record['candidate'])[:60]} -> {record['score']:.4g} "
            f"(best {record['best_so_far']:.4g})",
            highlight=False,
        )
    elif ev == "gp_fit":
        err_console.print(
            f"{t} gp n={record['n']} l={record['length_scale']:.3g} "
            f"sf2={record['signal_variance']:.3g} noise={record['noise']:.2g} "
            f"lml={record['log_marginal_likelihood']}",
            highlight=False,
        )
    elif ev == "model_call":
        err_console.print(
            f"{t} [cyan]{record['role']}[/] {record['completion_tokens']} tokens in "
            f"{record['latency_s']:.1f}s",
            highlight=False,
        )


def check_budget(evaluations: Optional[int], task_evaluations: int, initial: int) -> None:
    """Refuse a budget that the shared initial design uses up: BOPRO would take no step and the comparison
    with random search would compare two copies of the same design."""
    from hrm_agent.errors import AgentError

    n = task_evaluations if evaluations is None else evaluations
    if n <= initial:
        where = f"--evaluations {n}" if evaluations is not None else f"the task's optimizer.evaluations ({n})"
        raise AgentError(f"{where} is not larger than the initial design ({initial} points), so no optimisation "
                         f"step would run: pass --evaluations {initial + 1} or more (or lower optimizer.initial "
                         f"in the task file)")


def optimize_cmd(
    task: str = typer.Argument(..., help="A task YAML file, or a shipped task: guess-word, fit-expression."),
    evaluations: Optional[int] = typer.Option(
        None, "--evaluations", "-n",
        help="Objective evaluations per arm (default: the task's); more than the initial design "
             "(optimizer.initial, 4 in the shipped tasks).",
    ),
    seed: Optional[int] = typer.Option(
        None, "--seed", help="Seed for the pool, Thompson draws and MLX sampling."
    ),
    backend: str = typer.Option("mlx", "--backend", "-b", help="mlx (local, default), openai or ollama."),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="mlx: model folder; servers: model name."
    ),
    base_url: Optional[str] = typer.Option(
        None, "--base-url", help="Server URL (OpenAI-compatible or Ollama)."
    ),
    embedding: Optional[str] = typer.Option(
        None, "--embedding", help="Latent space: model (local model hidden states) or hash."
    ),
    acquisition: Optional[str] = typer.Option(None, "--acquisition", help="ei, ucb or thompson."),
    kernel: Optional[str] = typer.Option(None, "--kernel", help="matern52 or rbf."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also run random search."),
    runs_dir: Path = typer.Option(Path("runs/optimize"), "--runs-dir", help="Where runs/<id>/ go."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Stream evaluations to stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    seeds: Optional[int] = typer.Option(
        None, "--seeds", help="Run N seeds (from --seed on) and compare BOPRO with random search, t intervals."
    ),
    compare_id: Optional[str] = typer.Option(
        None, "--id", help="--seeds: name of the comparison (rerunning an id reuses its finished seeds)."
    ),
) -> None:
    """Optimise TASK's objective with BOPRO (model proposals steered by a GP in latent space) and
    compare with random search on the same number of objective evaluations.

    Writes runs/optimize/<id>/: candidates.jsonl, curve.json, result.json, trace.jsonl.
    Exit 2 on a bad task file or option, 3 when the model cannot answer.

    Examples:
      hrm agent optimize guess-word
      hrm agent optimize fit-expression --evaluations 20 --acquisition ucb --seed 1
      hrm agent optimize my-task.yaml --backend openai --base-url http://127.0.0.1:8080 --embedding hash
      hrm agent optimize fit-expression --seeds 5 -n 10 --json   # mean best-so-far with t intervals
    """
    import json

    from hrm_engine.bayesopt.acquisition import ACQUISITIONS
    from hrm_agent.backends.http import make_backend
    from hrm_agent.optimize.bopro import optimize
    from hrm_agent.optimize.embedding import EMBEDDINGS, make_embedder
    from hrm_agent.errors import AgentError
    from hrm_engine.bayesopt.gp import KERNELS
    from hrm_agent.optimize.objectives import load_task
    from hrm_cli.console import err_console, print_json

    for name, value, allowed in (
        ("--embedding", embedding, EMBEDDINGS),
        ("--acquisition", acquisition, ACQUISITIONS),
        ("--kernel", kernel, KERNELS),
    ):
        if value is not None and value not in allowed:
            raise AgentError(f"{name} {value!r}: choose one of {', '.join(allowed)}")
    if evaluations is not None and evaluations < 1:
        raise AgentError(f"--evaluations must be >= 1, got {evaluations}")
    if seeds is not None and seeds < 2:
        raise AgentError(f"--seeds must be >= 2 (an interval needs several runs), got {seeds}")
    if seeds is not None and not baseline:
        raise AgentError("--seeds compares BOPRO with random search: drop --no-baseline")
    if compare_id is not None and seeds is None:
        raise AgentError("--id names a comparison: give --seeds N too")
    spec = load_task(task, model_path=model if backend == "mlx" else None)
    opt = spec.optimizer
    check_budget(evaluations, opt.evaluations, opt.initial)
    opt.embedding = embedding or opt.embedding
    opt.acquisition = acquisition or opt.acquisition
    opt.kernel = kernel or opt.kernel
    llm = make_backend(backend, model=model, base_url=base_url)
    if not as_json and (backend == "mlx" or opt.embedding == "model"):
        err_console.print("[dim]loading the local model (first use converts it once, about a minute)...[/]")
    embedder = make_embedder(opt.embedding, model_path=model if backend == "mlx" else None, backend=llm)
    if seeds is not None:
        from hrm_cli.agent.optimize_compare import run_comparison

        run_comparison(spec, llm, embedder, seeds=seeds, first_seed=seed, evaluations=evaluations,
                       runs_dir=runs_dir, compare_id=compare_id,
                       listener=_listener if verbose and not as_json else None, as_json=as_json)
        return
    result = optimize(
        spec,
        llm,
        embedder,
        evaluations=evaluations,
        seed=seed,
        baseline=baseline,
        runs_dir=runs_dir,
        listener=_listener if verbose and not as_json else None,
    )
    if as_json:
        print_json(result)
        return
    path = Path(result["run_dir"]) / "candidates.jsonl"
    candidates = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    _render(result, candidates)
