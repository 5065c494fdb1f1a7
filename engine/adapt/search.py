"""The four ways to choose an unseen task's embedding from its demonstrations, under one budget.

The budget is counted in *evaluations*: one candidate embedding run on all of the task's
demonstrations (forward.py). Every method records each evaluated candidate as a `Point`, in order, and
the answer is the best point by demonstration score (exact share + token accuracy; ties: the earlier).

- `none`: the blank row (all zeros), what the model does today with an identifier it never trained:
  no search. Its demonstration score is measured and recorded at evaluation 0 (not counted).
- `mean`: the mean trained embedding (latent z = 0), no search; recorded at evaluation 0.
- `random`: N latent points, z = 0 first, then draws from N(0, I), best kept. Scored in batches.
- `bopro`: the same first `initial` points (a shared initial design), then a Gaussian process
  (hrm_engine.bayesopt: the surrogate `hrm agent optimize` fits) on (latent, score), and the
  acquisition (EI, UCB or Thompson) maximised over a pool of latent points proposes the next; the
  model generates the demonstrations' outputs from it and their score updates the surrogate.
  `batch` q > 1 proposes q points per round (kriging believer: each pick is added at its predicted
  mean, the GP refitted with its hyperparameters fixed), to score them in one model batch.
- `trained`: a training task's own trained row (looked up by its name), no search: what the model
  scores on tasks it did train on, the ceiling the others are measured against.
- `gradient`: test-time training of the embedding alone (the full row, from the mean embedding) with
  Adam on the demonstrations' loss. A step is one forward pass (which scores the current row: an
  evaluation) and one backward pass, counted as a second evaluation: step k's row is scored at
  evaluation 2k - 1; N evaluations score ceil(N / 2) rows with floor(N / 2) Adam updates between them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import mlx.core as mx
import numpy as np

from hrm_engine.adapt import METHODS
from hrm_engine.adapt.forward import DemoScores, TaskForward
from hrm_engine.adapt.space import LatentSpace
from hrm_engine.errors import EngineError

SEARCH_METHODS = ("random", "bopro", "gradient")
POOL_GLOBAL = 1024  # latent draws from N(0, I) the acquisition is maximised over
POOL_LOCAL = 128  # perturbations around each of the best 3 points, per scale
THOMPSON_POOL = 384  # a joint posterior draw costs O(pool^3): Thompson samples over a subset (global and local)
LOCAL_SCALES = (0.1, 0.3)  # in latent units (a trained task's spread is 1)
LATENT_BOX = 3.0  # pool points are clipped to [-3, 3] per component
DRAWS = ("gaussian", "trained")  # where random draws its points and bopro's pool comes from


@dataclass
class Point:
    """One evaluated candidate: the JSON line a search writes (docs/test-time-adaptation.md)."""

    method: str
    evaluation: int  # 1-based index in the budget (0: not counted, none/mean/trained)
    latent: list[float]
    score: float  # exact + token, in [0, 2]
    exact: float
    token: float
    source: str  # blank | mean | trained | initial | random | gp | adam
    acquisition: dict[str, Any] | None = None  # bopro: kind, value, mean, std at the chosen point
    loss: float | None = None  # gradient: the demonstrations' mean loss at this row

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k == "acquisition"}


@dataclass
class Search:
    """What a method evaluated, in order; `embeddings[i]` belongs to `points[i]`."""

    method: str
    points: list[Point] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    evaluations: int = 0  # budget spent
    seconds: float = 0.0
    gp_fits: list[dict[str, Any]] = field(default_factory=list)

    def add(self, point: Point, embedding: np.ndarray) -> None:
        self.points.append(point)
        self.embeddings.append(np.asarray(embedding, np.float32))

    def best(self, upto: int | None = None) -> int:
        """Index of the best point among those scored by evaluation `upto` (all when None)."""
        ok = [i for i, p in enumerate(self.points) if upto is None or p.evaluation <= upto]
        if not ok:
            raise EngineError("no point was evaluated")
        return max(ok, key=lambda i: (self.points[i].score, -i))

    def top(self, k: int) -> list[int]:
        """The k best points (score, then earlier), for voting over their answers."""
        order = sorted(range(len(self.points)), key=lambda i: (-self.points[i].score, i))
        return order[:k]


@dataclass
class SearchSettings:
    """Knobs shared by the methods; defaults are the measured ones (docs/test-time-adaptation.md)."""

    evaluations: int = 32
    seed: int = 0
    initial: int = 4  # bopro's initial design (z = 0, then draws), shared with random
    batch: int = 4  # bopro's proposals per round; random's candidates per model batch
    acquisition: str = "ei"
    kernel: str = "matern52"
    lr: float = 0.01  # gradient: Adam's step size on the embedding row (chosen on a validation family)
    xi: float = 0.01
    beta: float = 2.0
    draws: str = "gaussian"  # gaussian: z ~ N(0, I); trained: the trained tasks' own latent points
    gp_restarts: int = 1  # extra marginal-likelihood starts per GP fit (3 in `hrm agent optimize`: 0.5-1 s a fit
    #                       on the loaded 2-core machine, 1: about 0.1 s; the budget here is seconds per task)


def _point(method: str, n: int, space: LatentSpace, emb: np.ndarray, s: DemoScores, i: int, source: str,
           **extra: Any) -> Point:
    z = space.to_latent(emb[None])[0]
    return Point(method=method, evaluation=n, latent=[round(float(v), 5) for v in z],
                 score=round(float(s.score[i]), 6), exact=round(float(s.exact[i]), 6),
                 token=round(float(s.token[i]), 6), source=source, **extra)


def drawn_anchors(space: LatentSpace, settings: SearchSettings) -> np.ndarray | None:
    """The trained tasks' latent points when the search draws from them (`draws="trained"`), else None."""
    if settings.draws == "trained" and space.anchors is not None and len(space.anchors):
        return space.anchors
    return None


def shared_draws(space: LatentSpace, settings: SearchSettings) -> np.ndarray:
    """The latent points random search evaluates, in order; bopro's initial design is their head.

    z = 0 (the mean row) first, then draws from N(0, I), or with `draws="trained"` the trained tasks'
    own latent points, without replacement until every trained task has been drawn once."""
    rng = np.random.default_rng(settings.seed)
    anchors = drawn_anchors(space, settings)
    if anchors is not None:
        n = len(anchors)
        picks = np.concatenate([rng.permutation(n) for _ in range(max(1, -(-(settings.evaluations - 1) // n)))])
        z = np.vstack([np.zeros((1, space.dim)), anchors[picks[:settings.evaluations - 1]]])
        return z[:settings.evaluations]
    z = rng.standard_normal((settings.evaluations, space.dim))
    z[0] = 0.0
    return z


def _score_latents(fwd: TaskForward, space: LatentSpace, search: Search, z: np.ndarray, sources: list[str],
                   extras: list[dict[str, Any]] | None = None) -> None:
    emb = space.to_embedding(z)
    scores = fwd.score(emb)
    for i in range(len(z)):
        search.evaluations += 1
        search.add(_point(search.method, search.evaluations, space, emb[i], scores, i, sources[i],
                          **((extras or [{}] * len(z))[i])), emb[i])


def run_fixed(method: str, fwd: TaskForward, space: LatentSpace, row: np.ndarray | None = None) -> Search:
    """`none` (the zero row), `mean` (z = 0) or `trained` (`row`): one embedding, scored on the
    demonstrations, not counted against the budget."""
    search = Search(method)
    start = time.perf_counter()
    if method == "trained":
        if row is None:
            raise EngineError("the trained method needs the task's own trained row")
        emb = np.asarray(row, np.float32)[None]
    elif method == "none":
        emb = np.zeros((1, fwd.ndim), np.float32)
    else:
        emb = space.to_embedding(np.zeros((1, space.dim)))
    scores = fwd.score(emb)
    source = {"none": "blank", "mean": "mean", "trained": "trained"}[method]
    search.add(_point(method, 0, space, emb[0], scores, 0, source), emb[0])
    search.seconds = time.perf_counter() - start
    return search


def run_random(fwd: TaskForward, space: LatentSpace, settings: SearchSettings) -> Search:
    """N latent points (the shared draws), scored `batch` at a time; the best is kept."""
    search = Search("random")
    start = time.perf_counter()
    z = shared_draws(space, settings)
    step = max(settings.batch, 1)
    for lo in range(0, len(z), step):
        sources = ["initial" if i < settings.initial else "random" for i in range(lo, min(lo + step, len(z)))]
        _score_latents(fwd, space, search, z[lo:lo + step], sources)
    search.seconds = time.perf_counter() - start
    return search


def _pool(rng: np.random.Generator, z: np.ndarray, y: np.ndarray, size: int | None = None,
          anchors: np.ndarray | None = None) -> np.ndarray:
    """Latent points to maximise the acquisition over: global draws (from N(0, I), or the trained tasks'
    latent points when `anchors` (non-empty) are given), and perturbations of the best 3.

    `size` scales both parts down to about that many points (Thompson sampling's joint draw). Points are
    clipped to the latent box, except trained tasks' own points, which are where they are."""
    d = z.shape[1]
    total = POOL_GLOBAL + 3 * len(LOCAL_SCALES) * POOL_LOCAL
    frac = 1.0 if size is None else min(1.0, size / total)
    n_global = max(1, int(POOL_GLOBAL * frac))
    fixed = np.zeros((0, d))
    parts = []
    if anchors is not None:
        fixed = anchors[rng.permutation(len(anchors))[:n_global]]
    else:
        parts.append(rng.standard_normal((n_global, d)))
    for i in np.argsort(-y, kind="stable")[:3]:
        for scale in LOCAL_SCALES:
            parts.append(z[i] + scale * rng.standard_normal((max(1, int(POOL_LOCAL * frac)), d)))
    return np.concatenate([fixed, np.clip(np.concatenate(parts), -LATENT_BOX, LATENT_BOX)])


def _propose(settings: SearchSettings, rng: np.random.Generator, z: np.ndarray, y: np.ndarray,
             q: int, search: Search, anchors: np.ndarray | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """q new latent points from the GP and the acquisition (kriging believer for q > 1)."""
    from hrm_engine.bayesopt import GaussianProcess, acquisition_values

    gp = GaussianProcess(settings.kernel, restarts=settings.gp_restarts, seed=settings.seed).fit(z, y)
    search.gp_fits.append({"after": search.evaluations, **gp.describe()})
    pool = _pool(rng, z, y, THOMPSON_POOL if settings.acquisition == "thompson" else None, anchors)
    chosen, infos = [], []
    zs, ys = z, y
    for j in range(q):
        acq = acquisition_values(settings.acquisition, gp, pool, float(ys.max()), rng, xi=settings.xi,
                                 beta=settings.beta)
        far = np.min(np.linalg.norm(pool[:, None, :] - zs[None, :, :], axis=-1), axis=1) > 1e-6
        value = np.where(far, acq["value"], -np.inf)
        k = int(np.argmax(value))
        chosen.append(pool[k])
        infos.append({"acquisition": {"kind": settings.acquisition, "value": round(float(acq["value"][k]), 6),
                                      "mean": round(float(acq["mean"][k]), 6),
                                      "std": round(float(acq["std"][k]), 6)}})
        if j + 1 < q:  # believe the GP's mean there, refit with the same hyperparameters
            zs = np.vstack([zs, pool[k]])
            ys = np.append(ys, acq["mean"][k])
            gp = GaussianProcess(settings.kernel, hyper=gp.hyper, seed=settings.seed).fit(zs, ys, optimize=False)
    return np.stack(chosen), infos


def run_bopro(fwd: TaskForward, space: LatentSpace, settings: SearchSettings) -> Search:
    """The shared initial design, then GP + acquisition rounds until the budget is spent."""
    search = Search("bopro")
    start = time.perf_counter()
    n_init = min(max(settings.initial, 1), settings.evaluations)
    _score_latents(fwd, space, search, shared_draws(space, settings)[:n_init], ["initial"] * n_init)
    rng = np.random.default_rng(settings.seed + 1)
    anchors = drawn_anchors(space, settings)
    while search.evaluations < settings.evaluations:
        q = min(max(settings.batch, 1), settings.evaluations - search.evaluations)
        z = np.array([p.latent for p in search.points], np.float64)
        y = np.array([p.score for p in search.points], np.float64)
        proposals, infos = _propose(settings, rng, z, y, q, search, anchors)
        _score_latents(fwd, space, search, proposals, ["gp"] * len(proposals), infos)
    search.seconds = time.perf_counter() - start
    return search


def run_gradient(fwd: TaskForward, space: LatentSpace, settings: SearchSettings) -> Search:
    """Adam on the embedding row from the mean embedding; each step costs two evaluations."""
    import mlx.optimizers as optim

    search = Search("gradient")
    start = time.perf_counter()
    params = {"row": mx.array(space.to_embedding(np.zeros(space.dim)))}
    opt = optim.Adam(learning_rate=settings.lr)
    step = 0
    while 2 * step + 1 <= settings.evaluations:
        row = np.array(params["row"])
        if 2 * step + 2 <= settings.evaluations:  # forward and backward both fit in the budget
            scores, loss, grad = fwd.loss_and_grad(params["row"])
        else:  # the last evaluation: a forward pass only, no step after it
            scores, loss, grad = fwd.score(row[None]), None, None
        search.add(_point("gradient", 2 * step + 1, space, row, scores, 0, "adam",
                          loss=None if loss is None else round(loss, 6)), row)
        if grad is not None:
            opt.update(params, {"row": grad})
            mx.eval(params, opt.state)
        step += 1
    search.evaluations = min(2 * step, settings.evaluations)
    search.seconds = time.perf_counter() - start
    return search


RUNNERS: dict[str, Callable[..., Search]] = {"random": run_random, "bopro": run_bopro, "gradient": run_gradient}


def run_method(method: str, fwd: TaskForward, space: LatentSpace, settings: SearchSettings,
               row: np.ndarray | None = None) -> Search:
    """One method on one task's demonstrations (`row`: the task's own embedding, for `trained`)."""
    if method in ("none", "mean", "trained"):
        return run_fixed(method, fwd, space, row)
    if method not in RUNNERS:
        raise EngineError(f"unknown adaptation method {method!r}; choose from: {', '.join(METHODS)}")
    return RUNNERS[method](fwd, space, settings)
