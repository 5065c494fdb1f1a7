"""BOPRO: Bayesian optimisation via prompting, with a random-search baseline on the same budget.

The loop (one objective evaluation per step):
  1. Initial design, shared by both arms: the task's seeds, then model proposals from the plain task prompt.
  2. BOPRO step: embed every evaluated candidate (`hrm_agent.optimize.embedding`), fit a GP on (latent, score)
     (`hrm_engine.bayesopt.gp`), and maximise the acquisition (`hrm_engine.bayesopt.acquisition`) over a pool
     of latent points:
     perturbations of evaluated latents, interpolations towards the best one, and the latents of proposed
     but not yet evaluated candidates. The evaluated candidates nearest to the chosen latent point, plus the
     best so far, go into the prompt with their scores; the model proposes new candidates. Every unevaluated
     proposal is scored by the acquisition and the best one is evaluated by the objective.
  3. Random search: the same model, the same plain prompt and temperature as the initial design, proposals
     evaluated in the order they come, no surrogate and no conditioning.
Outputs in runs/optimize/<id>/: candidates.jsonl, curve.json, result.json and trace.jsonl (the agent trace
format).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hrm_agent.backends.chat import Backend, Message
from hrm_agent.optimize.embedding import Embedder
from hrm_agent.errors import BackendError
from hrm_agent.optimize.objectives import OptimizeTask
from hrm_agent.trace import TraceWriter, new_run_id
from hrm_engine.bayesopt import GaussianProcess, GPError, acquisition_values
from hrm_engine.run.directory import write_json_atomic

SYSTEM = (
    "You propose candidate solutions for an optimisation task. Reply with the candidates only, "
    "one per line, without numbering or explanations."
)
ARMS = ("bopro", "random")
RESERVOIR_LIMIT = 64


@dataclass
class Record:
    """One objective evaluation."""

    arm: str  # "initial" (shared), "bopro" or "random"
    evaluation: int  # 1-based index within its arm's curve
    candidate: str
    score: float
    valid: bool
    detail: str
    source: str  # "seed", "model", "model+gp"
    best_so_far: float
    acquisition: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Arm:
    name: str
    records: list[Record] = field(default_factory=list)
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stop_reason: str = "budget"

    @property
    def best(self) -> Record | None:
        return max(self.records, key=lambda r: r.score) if self.records else None

    @property
    def curve(self) -> list[float]:
        return [r.best_so_far for r in self.records]


class BoproSearch:
    """Runs both arms of one optimisation task and writes the run directory."""

    def __init__(
        self,
        task: OptimizeTask,
        backend: Backend,
        embedder: Embedder,
        *,
        evaluations: int | None = None,
        seed: int | None = None,
        baseline: bool = True,
        runs_dir: str | Path = "runs/optimize",
        run_id: str | None = None,
        listener: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.task, self.backend, self.embedder = task, backend, embedder
        self.opt = task.optimizer
        self.evaluations = int(evaluations or self.opt.evaluations)
        self.n_initial = min(self.opt.initial, self.evaluations)
        self.seed = task.seed if seed is None else int(seed)
        self.baseline = baseline
        self.run_id = run_id or new_run_id()
        self.run_dir = Path(runs_dir) / self.run_id
        self.listener = listener
        self._latents: dict[str, np.ndarray] = {}

    # -- helpers ------------------------------------------------------------------------------------

    def _latent(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self._latents]
        if missing:
            for text, row in zip(missing, self.embedder.embed(missing)):
                self._latents[text] = row
        return np.stack([self._latents[t] for t in texts]) if texts else np.zeros((0, 1))

    def _model_name(self) -> str | None:
        """The backend's model name, or None when asking for it fails (a server that is down)."""
        try:
            return self.backend.model
        except BackendError:
            return None

    def _seed_backend(self, seed: int) -> None:
        """Sampling in the in-process MLX model follows mx.random: seed it so runs repeat."""
        if getattr(self.backend, "name", "") == "mlx":
            import mlx.core as mx

            mx.random.seed(seed)

    def _ask(self, arm: Arm, role: str, messages: list[Message], temperature: float) -> str:
        try:
            res = self.backend.chat(messages, max_tokens=self.opt.max_tokens, temperature=temperature)
        except BackendError as exc:
            self.trace.emit("error", role=role, arm=arm.name, message=str(exc))
            raise
        arm.model_calls += 1
        arm.prompt_tokens += res.prompt_tokens
        arm.completion_tokens += res.completion_tokens
        self.trace.emit(
            "model_call",
            role=role,
            arm=arm.name,
            messages=messages,
            response=res.text,
            prompt_tokens=res.prompt_tokens,
            completion_tokens=res.completion_tokens,
            latency_s=round(res.latency_s, 3),
            finish_reason=res.finish_reason,
        )
        return res.text

    def _plain_messages(self) -> list[Message]:
        k = self.opt.proposals_per_call
        user = (
            f"{self.task.prompt()}\n\nWrite {k} different candidates, one per line. "
            f"Format: {self.task.answer_format}."
        )
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def _conditioned_messages(
        self, examples: list[tuple[str, float]], best: tuple[str, float]
    ) -> list[Message]:
        k = self.opt.proposals_per_call
        shown = sorted(set(examples) | {best}, key=lambda e: e[1])  # ascending: the best comes last (OPRO)
        lines = "\n".join(f"{c}  (score {s:.4g})" for c, s in shown)
        user = (
            f"{self.task.prompt()}\n\nSome candidates tried so far, with their scores "
            f"(higher is better):\n{lines}\n\nThe best so far is {best[0]} with score {best[1]:.4g}. "
            f"Write {k} new candidates, different from all of the above, that should score higher. "
            f"One per line. Format: {self.task.answer_format}."
        )
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def _evaluate(
        self,
        arm: Arm,
        candidate: str,
        source: str,
        label: str | None = None,
        acquisition: dict[str, float] | None = None,
    ) -> Record:
        ev = self.task.objective.score(candidate)
        prev = arm.records[-1].best_so_far if arm.records else -float("inf")
        rec = Record(
            arm=label or arm.name,
            evaluation=len(arm.records) + 1,
            candidate=candidate,
            score=float(ev.score),
            valid=ev.valid,
            detail=ev.detail,
            source=source,
            best_so_far=max(prev, float(ev.score)),
            acquisition=acquisition,
        )
        arm.records.append(rec)
        self._candidates_fh.write(json.dumps(rec.to_dict(), ensure_ascii=False) + "\n")
        self._candidates_fh.flush()
        self.trace.emit("candidate", **rec.to_dict())
        return rec

    def _fresh(self, arm: Arm, text: str, extra: set[str] | None = None) -> list[str]:
        """Candidates in a model answer that this arm has not evaluated (nor holds in `extra`)."""
        seen = {r.candidate for r in arm.records} | (extra or set())
        return [c for c in self.task.objective.extract(text) if c not in seen]

    # -- the arms -----------------------------------------------------------------------------------

    def _initial(self) -> Arm:
        arm = Arm("initial")
        for s in self.task.seeds:
            if len(arm.records) >= self.n_initial:
                break
            if s not in {r.candidate for r in arm.records}:
                self._evaluate(arm, s, "seed")
        fails = 0
        while len(arm.records) < self.n_initial:
            fresh = self._fresh(
                arm, self._ask(arm, "propose_initial", self._plain_messages(), self.opt.temperature)
            )
            fails = 0 if fresh else fails + 1
            if fails > self.opt.retries:
                arm.stop_reason = "no_new_candidates"
                break
            for c in fresh[: self.n_initial - len(arm.records)]:
                self._evaluate(arm, c, "model")
        return arm

    def _clone(self, initial: Arm, name: str) -> Arm:
        """An arm starting from the shared initial design; its cost counts the design's model calls."""
        return Arm(
            name,
            records=list(initial.records),
            model_calls=initial.model_calls,
            prompt_tokens=initial.prompt_tokens,
            completion_tokens=initial.completion_tokens,
        )

    def _random(self, arm: Arm) -> None:
        fails = 0
        while len(arm.records) < self.evaluations:
            fresh = self._fresh(
                arm, self._ask(arm, "propose_random", self._plain_messages(), self.opt.temperature)
            )
            fails = 0 if fresh else fails + 1
            if fails > self.opt.retries:
                arm.stop_reason = "no_new_candidates"
                return
            for c in fresh[: self.evaluations - len(arm.records)]:
                self._evaluate(arm, c, "model")

    def _pool(
        self,
        z: np.ndarray,
        y: np.ndarray,
        reservoir: np.ndarray,
        length_scale: float,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, list[str]]:
        """Latent points to maximise the acquisition over, with where each came from."""
        size, dim = self.opt.pool, z.shape[1]
        best = z[int(np.argmax(y))]
        n_perturb = size // 2
        idx = rng.integers(0, len(z), n_perturb)
        idx[: min(len(z), n_perturb // 2)] = np.argsort(-y)[: min(len(z), n_perturb // 2)]
        noise = rng.standard_normal((n_perturb, dim))
        noise *= (length_scale * rng.uniform(0.25, 1.0, (n_perturb, 1))) / np.linalg.norm(
            noise, axis=1, keepdims=True
        )
        perturbed = z[idx] + noise
        n_interp = size - n_perturb
        t = rng.uniform(0.0, 1.0, (n_interp, 1))
        interp = (1.0 - t) * best[None, :] + t * z[rng.integers(0, len(z), n_interp)]
        pts = np.concatenate([perturbed, interp])
        pts /= np.maximum(np.linalg.norm(pts, axis=1, keepdims=True), 1e-12)  # stay on the unit sphere
        sources = ["perturbation"] * n_perturb + ["interpolation"] * n_interp
        if len(reservoir):
            pts = np.concatenate([pts, reservoir])
            sources += ["proposal"] * len(reservoir)
        return pts, sources

    def _bopro(self, arm: Arm) -> None:
        """Each evaluation: fit the GP to the arm's scores in latent space, show the model the records nearest
        the latent point the acquisition prefers, and evaluate the proposal the acquisition scores highest."""
        rng = np.random.default_rng(self.seed + 1)
        reservoir: list[str] = []  # proposals not yet evaluated, the newest RESERVOIR_LIMIT kept
        gp = GaussianProcess(self.opt.kernel, seed=self.seed)  # seeded restarts: a run repeats
        while len(arm.records) < self.evaluations:
            fitted = self._fit(arm, gp)
            if fitted is None:
                return
            z, y = fitted
            best_rec = max(arm.records, key=lambda r: r.score)
            examples = self._latent_neighbours(arm, gp, z, y, reservoir, best_rec.score, rng)
            messages = self._conditioned_messages(examples, (best_rec.candidate, best_rec.score))
            if not self._fill_reservoir(arm, messages, reservoir):
                return
            del reservoir[:-RESERVOIR_LIMIT]
            self._evaluate_proposal(arm, gp, reservoir, best_rec.score, rng)

    def _fit(self, arm: Arm, gp: GaussianProcess) -> tuple[np.ndarray, np.ndarray] | None:
        """The arm's candidates in latent space and their scores, with `gp` fitted to them; None (the arm
        stops, "gp_error") when the fit fails."""
        texts = [r.candidate for r in arm.records]
        z = self._latent(texts)
        y = np.array([r.score for r in arm.records])
        try:
            gp.fit(z, y)
        except GPError as exc:
            self.trace.emit("error", role="gp_fit", arm=arm.name, message=str(exc))
            arm.stop_reason = "gp_error"
            return None
        self.trace.emit("gp_fit", arm=arm.name, **gp.describe())
        return z, y

    def _latent_neighbours(self, arm: Arm, gp: GaussianProcess, z: np.ndarray, y: np.ndarray,
                           reservoir: list[str], best_score: float,
                           rng: np.random.Generator) -> list[tuple[str, float]]:
        """The evaluated candidates nearest the pool point with the highest acquisition, as (text, score):
        the examples the model is shown."""
        pool, sources = self._pool(
            z,
            y,
            self._latent(reservoir) if reservoir else np.zeros((0, z.shape[1])),
            gp.hyper.length_scale,
            rng,
        )
        acq = acquisition_values(
            self.opt.acquisition, gp, pool, best_score, rng, xi=self.opt.xi, beta=self.opt.beta
        )
        i = int(np.argmax(acq["value"]))
        dist = np.linalg.norm(z - pool[i][None, :], axis=1)
        near = [int(j) for j in np.argsort(dist)[: self.opt.neighbours]]
        examples = [(arm.records[j].candidate, arm.records[j].score) for j in near]
        self.trace.emit(
            "acquisition",
            arm=arm.name,
            stage="latent",
            kind=self.opt.acquisition,
            pool_size=len(pool),
            chosen_source=sources[i],
            value=float(acq["value"][i]),
            mean=float(acq["mean"][i]),
            std=float(acq["std"][i]),
            neighbours=[
                {"candidate": c, "score": s, "distance": round(float(dist[j]), 4)}
                for (c, s), j in zip(examples, near)
            ],
        )
        return examples

    def _fill_reservoir(self, arm: Arm, messages: list[Message], reservoir: list[str]) -> bool:
        """Ask for proposals until the reservoir holds one; False (the arm stops, "no_new_candidates") after
        more than `retries` answers in a row with nothing new."""
        fails = 0
        while True:
            new = self._fresh(
                arm, self._ask(arm, "propose_bopro", messages, self.opt.temperature), set(reservoir)
            )
            reservoir.extend(new)
            if reservoir:
                return True
            fails += 1
            if fails > self.opt.retries:
                arm.stop_reason = "no_new_candidates"
                return False

    def _evaluate_proposal(self, arm: Arm, gp: GaussianProcess, reservoir: list[str], best_score: float,
                           rng: np.random.Generator) -> None:
        """Take the reservoir's proposal with the highest acquisition out of it and evaluate it."""
        scores = acquisition_values(
            self.opt.acquisition,
            gp,
            self._latent(reservoir),
            best_score,
            rng,
            xi=self.opt.xi,
            beta=self.opt.beta,
        )
        k = int(np.argmax(scores["value"]))
        pick = reservoir.pop(k)
        info = {
            "value": float(scores["value"][k]),
            "mean": float(scores["mean"][k]),
            "std": float(scores["std"][k]),
        }
        self.trace.emit(
            "acquisition",
            arm=arm.name,
            stage="candidate",
            kind=self.opt.acquisition,
            pool_size=len(scores["value"]),
            candidate=pick,
            **info,
        )
        self._evaluate(arm, pick, "model+gp", acquisition={k2: round(v, 6) for k2, v in info.items()})

    # -- run ----------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        t0 = time.monotonic()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        arms: dict[str, Arm] = {}
        status, error = "done", None
        with (
            TraceWriter(self.run_dir, listener=self.listener) as self.trace,
            open(self.run_dir / "candidates.jsonl", "a", encoding="utf-8") as self._candidates_fh,
        ):
            try:
                self.trace.emit(
                    "run_start",
                    run_id=self.run_id,
                    kind="optimize",
                    controller="bopro",
                    task=self.task.name,
                    task_path=self.task.path,
                    objective=self.task.objective.describe(),
                    backend=self.backend.name,
                    model=self.backend.model,
                    embedding=self.embedder.describe(),
                    evaluations=self.evaluations,
                    initial=self.n_initial,
                    seed=self.seed,
                    baseline=self.baseline,
                    optimizer=dict(vars(self.opt)),
                )
                self._seed_backend(self.seed)
                initial = self._initial()
                arms["bopro"] = self._clone(initial, "bopro")
                if initial.stop_reason != "budget":
                    arms["bopro"].stop_reason = initial.stop_reason
                else:
                    self._bopro(arms["bopro"])
                if self.baseline:
                    arms["random"] = self._clone(initial, "random")
                    self._seed_backend(self.seed + 2)
                    if initial.stop_reason == "budget":
                        self._random(arms["random"])
                    else:
                        arms["random"].stop_reason = initial.stop_reason
            except BackendError as exc:
                status, error = "backend_error", exc
            except KeyboardInterrupt:
                status = "interrupted"
                raise
            finally:
                result = self._result(arms, status, str(error) if error else None, time.monotonic() - t0)
                self.trace.emit("run_end", **{k: v for k, v in result.items() if k not in ("curves",)})
                write_json_atomic(
                    self.run_dir / "curve.json", {"evaluations": self.evaluations, **result["curves"]}
                )
                write_json_atomic(self.run_dir / "result.json", result)
        if error is not None:
            raise error
        return result

    def _result(self, arms: dict[str, Arm], status: str, error: str | None, wall: float) -> dict[str, Any]:
        summary = {}
        for name, arm in arms.items():
            best = arm.best
            curve = arm.curve
            summary[name] = {
                "best_score": None if best is None else best.score,
                "best_candidate": None if best is None else best.candidate,
                "evaluations": len(arm.records),
                "mean_best_so_far": float(np.mean(curve)) if curve else None,
                "model_calls": arm.model_calls,
                "prompt_tokens": arm.prompt_tokens,
                "completion_tokens": arm.completion_tokens,
                "stop_reason": arm.stop_reason,
            }
        return {
            "run_id": self.run_id,
            "task": self.task.name,
            "task_path": self.task.path,
            "objective": self.task.objective.kind,
            "backend": self.backend.name,
            "model": self._model_name(),
            "embedding": self.embedder.name,
            "kernel": self.opt.kernel,
            "acquisition": self.opt.acquisition,
            "evaluations": self.evaluations,
            "initial": self.n_initial,
            "seed": self.seed,
            "status": status,
            "error": error,
            "arms": summary,
            "curves": {n: a.curve for n, a in arms.items()},
            "wall_s": round(wall, 3),
            "run_dir": str(self.run_dir),
        }




def optimize(task: OptimizeTask, backend: Backend, embedder: Embedder, **kw: Any) -> dict[str, Any]:
    """Run BOPRO (and, unless baseline=False, random search) on `task`; see `BoproSearch` for keywords."""
    return BoproSearch(task, backend, embedder, **kw).run()


# -- several seeds: BOPRO against random search with intervals ----------------------------------------


def t_interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper): Student-t interval of the mean over independent runs (seeds).

    Why t and not the bootstrap: with 5-10 seeds a percentile bootstrap is too narrow (it cannot see
    beyond the values it has); the t interval is the textbook choice for a handful of runs.
    """
    from scipy.stats import t as student_t

    arr = np.asarray(values, float)
    mean = float(arr.mean())
    if len(arr) < 2:
        return mean, float("nan"), float("nan")
    half = float(student_t.ppf(0.5 + level / 2, len(arr) - 1) * arr.std(ddof=1) / np.sqrt(len(arr)))
    return mean, mean - half, mean + half


def padded_curve(curve: list[float], n: int) -> list[float]:
    """`curve` as n values: an arm that stopped early keeps its best so far (it spent fewer evaluations)."""
    if not curve:
        return [float("nan")] * n
    return (list(curve) + [curve[-1]] * n)[:n]


def comparison_summary(results: list[dict[str, Any]], evaluations: int, level: float = 0.95) -> dict[str, Any]:
    """Per evaluation k: mean best-so-far of each arm over the runs, its t interval, and the paired
    difference bopro - random (same seed, same initial design) with its t interval; plus the final values."""
    curves = {arm: [padded_curve(r["curves"].get(arm, []), evaluations) for r in results] for arm in ARMS}
    per_k = []
    for k in range(evaluations):
        row: dict[str, Any] = {"evaluation": k + 1}
        for arm in ARMS:
            m, lo, hi = t_interval([c[k] for c in curves[arm]], level)
            row[arm] = {"mean": m, "lower": lo, "upper": hi}
        m, lo, hi = t_interval([b[k] - r[k] for b, r in zip(curves["bopro"], curves["random"])], level)
        row["difference"] = {"mean": m, "lower": lo, "upper": hi}
        per_k.append(row)
    final = [(b[-1], r[-1]) for b, r in zip(curves["bopro"], curves["random"])]
    auc = [(float(np.mean(b)), float(np.mean(r))) for b, r in zip(curves["bopro"], curves["random"])]
    return {
        "runs": len(results),
        "level": level,
        "interval": "student-t over seeds",
        "curve": per_k,
        "final": per_k[-1] if per_k else None,
        "mean_best_so_far_difference": dict(
            zip(("mean", "lower", "upper"), t_interval([b - r for b, r in auc], level))
        ),
        "bopro_wins": sum(b > r for b, r in final),
        "random_wins": sum(r > b for b, r in final),
        "ties": sum(b == r for b, r in final),
        "stop_reasons": {arm: [r["arms"].get(arm, {}).get("stop_reason") for r in results] for arm in ARMS},
        "model_calls": {arm: [r["arms"].get(arm, {}).get("model_calls") for r in results] for arm in ARMS},
    }


def compare_seeds(
    task: OptimizeTask,
    backend: Backend,
    embedder: Embedder,
    seeds: list[int],
    *,
    evaluations: int | None = None,
    runs_dir: str | Path = "runs/optimize",
    compare_id: str | None = None,
    listener: Callable[[dict[str, Any]], None] | None = None,
    on_run: Callable[[int, dict[str, Any], bool], None] | None = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """Run both arms once per seed and summarise best-found against evaluations with t intervals.

    Writes <runs_dir>/<compare_id>/: seed-<s>/ (one ordinary optimize run per seed) and comparison.json,
    rewritten after every seed. Rerunning with the same id reuses the seeds already done (same task and
    number of evaluations), so an interrupted comparison resumes. `on_run(seed, result, reused)` reports each.
    """
    if not seeds:
        raise ValueError("compare_seeds needs at least one seed")
    compare_id = compare_id or f"compare-{new_run_id()}"
    out = Path(runs_dir) / compare_id
    out.mkdir(parents=True, exist_ok=True)
    n = int(evaluations or task.optimizer.evaluations)
    results: list[dict[str, Any]] = []
    for seed in seeds:
        done = out / f"seed-{seed}" / "result.json"
        prior = json.loads(done.read_text(encoding="utf-8")) if done.is_file() else None
        reused = bool(
            prior and prior.get("status") == "done" and prior.get("evaluations") == n
            and prior.get("task") == task.name and "random" in prior.get("arms", {})
        )
        if reused:
            result = prior
        else:
            result = BoproSearch(task, backend, embedder, evaluations=n, seed=seed, runs_dir=out,
                               run_id=f"seed-{seed}", listener=listener).run()
        results.append(result)
        if on_run is not None:
            on_run(seed, result, reused)
        summary = {
            "compare_id": compare_id,
            "task": task.name,
            "task_path": task.path,
            "backend": result["backend"],
            "model": result["model"],
            "embedding": result["embedding"],
            "kernel": result["kernel"],
            "acquisition": result["acquisition"],
            "evaluations": n,
            "initial": result["initial"],
            "seeds": [r["seed"] for r in results],
            "seeds_planned": list(seeds),
            "complete": len(results) == len(seeds),
            "run_dirs": [r["run_dir"] for r in results],
            "wall_s": round(sum(r["wall_s"] for r in results), 1),  # the runs' own time, reused ones too
            "run_wall_s": [r["wall_s"] for r in results],
            "dir": str(out),
            **comparison_summary(results, n, level),
            "plot": str(out / "comparison.png"),
        }
        comparison_plot(summary, out / "comparison.png")
        write_json_atomic(out / "comparison.json", summary)
    return summary


def comparison_plot(summary: dict[str, Any], path: str | Path) -> Path:
    """Best found so far against objective evaluations, mean over seeds with its t interval as a band."""
    from hrm_agent.bench.plots import line_chart

    rows = summary["curve"]
    xs = [r["evaluation"] for r in rows]
    series = [
        (arm, [r[arm]["mean"] for r in rows], [r[arm]["lower"] for r in rows], [r[arm]["upper"] for r in rows])
        for arm in ARMS
    ]
    pct = round(100 * summary["level"])
    return line_chart(
        path,
        f"{summary['task']}: best found vs evaluations ({summary['runs']} seeds, {pct}% t interval)",
        xs,
        series,
        shade_from=None,
        ylabel="best score so far (higher is better)",
        xlabel="objective evaluations (first {} shared)".format(summary["initial"]),
        ylim=None,
    )
