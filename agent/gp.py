"""A Gaussian-process surrogate in plain numpy: the model BOPRO fits on (latent vector, score) pairs.

Why numpy and not scipy/sklearn: the pools and histories are tiny (tens of points), the venv has no
scipy, and every number here must be inspectable in a trace. Hyperparameters (length scale, signal
variance, noise) maximise the log marginal likelihood: a log-space grid search first, then a Nelder-Mead
polish in log space from the best grid points. Every factorisation goes through `cholesky_jitter`, which
adds growing diagonal jitter until the matrix factorises, so near-duplicate candidates (the same word
proposed twice with different spacing) never crash a fit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

KERNELS = ("matern52", "rbf")
_JITTERS = (0.0, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1)
_LOG_2PI = math.log(2.0 * math.pi)


class GPError(ValueError):
    """The data cannot be modelled (no points, shape mismatch, a matrix that never factorises)."""


# -- kernels -----------------------------------------------------------------------------------------


def sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, clipped at 0 (the expansion can dip below by rounding)."""
    a, b = np.atleast_2d(a).astype(float), np.atleast_2d(b).astype(float)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def rbf(a: np.ndarray, b: np.ndarray, length_scale: float = 1.0, variance: float = 1.0) -> np.ndarray:
    """Squared-exponential kernel: variance * exp(-|a-b|^2 / (2 l^2)). Infinitely smooth."""
    return variance * np.exp(-0.5 * sq_dists(a, b) / (length_scale**2))


def matern52(a: np.ndarray, b: np.ndarray, length_scale: float = 1.0, variance: float = 1.0) -> np.ndarray:
    """Matérn 5/2: variance * (1 + s + s^2/3) exp(-s), s = sqrt(5)|a-b|/l. Twice differentiable, less
    over-confident than RBF between points, the usual default in Bayesian optimisation."""
    s = math.sqrt(5.0) * np.sqrt(sq_dists(a, b)) / length_scale
    return variance * (1.0 + s + s * s / 3.0) * np.exp(-s)


def kernel_fn(name: str) -> Callable[..., np.ndarray]:
    if name == "rbf":
        return rbf
    if name == "matern52":
        return matern52
    raise GPError(f"unknown kernel {name!r}; choose one of: {', '.join(KERNELS)}")


def cholesky_jitter(k: np.ndarray) -> tuple[np.ndarray, float]:
    """Lower Cholesky factor of `k`, adding jitter * mean(diag) until it factorises; returns (L, jitter)."""
    scale = float(np.mean(np.diag(k))) if k.size else 1.0
    scale = scale if scale > 0 and math.isfinite(scale) else 1.0
    eye = np.eye(k.shape[0])
    for jitter in _JITTERS:
        try:
            return np.linalg.cholesky(k + jitter * scale * eye), jitter * scale
        except np.linalg.LinAlgError:
            continue
    raise GPError(
        f"covariance matrix not positive definite even with jitter {_JITTERS[-1]:g} x mean diagonal"
    )


def _solve_lower(lower: np.ndarray, b: np.ndarray) -> np.ndarray:
    """lower^-1 b for a lower-triangular factor (np.linalg.solve: numpy has no triangular solver)."""
    return np.linalg.solve(lower, b)


def _cho_solve(lower: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(L L^T)^-1 b."""
    return np.linalg.solve(lower.T, np.linalg.solve(lower, b))


# -- the model ---------------------------------------------------------------------------------------


@dataclass
class GPHyper:
    """Kernel hyperparameters, in the units of the standardised scores when `normalize_y` is on."""

    length_scale: float
    signal_variance: float
    noise: float  # noise variance added to the diagonal

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def log_marginal_likelihood(x: np.ndarray, y: np.ndarray, hyper: GPHyper, kernel: str = "matern52") -> float:
    """log p(y | X, θ) = -½ yᵀK⁻¹y - Σ log L_ii - n/2 log 2π, K = k(X,X) + noise·I (zero prior mean)."""
    k = kernel_fn(kernel)(x, x, hyper.length_scale, hyper.signal_variance) + hyper.noise * np.eye(len(x))
    try:
        lower, _ = cholesky_jitter(k)
    except GPError:
        return -math.inf
    alpha = _cho_solve(lower, y)
    value = -0.5 * float(y @ alpha) - float(np.log(np.diag(lower)).sum()) - 0.5 * len(x) * _LOG_2PI
    return value if math.isfinite(value) else -math.inf


def nelder_mead(
    f: Callable[[np.ndarray], float], x0: np.ndarray, step: float = 0.5, iters: int = 80, tol: float = 1e-6
) -> tuple[np.ndarray, float]:
    """Minimise f from x0 with the Nelder-Mead simplex (standard coefficients); returns (x, f(x))."""
    n = len(x0)
    simplex = [np.asarray(x0, float)] + [np.asarray(x0, float) + step * np.eye(n)[i] for i in range(n)]
    values = [f(p) for p in simplex]
    for _ in range(iters):
        order = np.argsort(values)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        if abs(values[-1] - values[0]) < tol and np.max(np.abs(simplex[-1] - simplex[0])) < tol:
            break
        centroid = np.mean(simplex[:-1], axis=0)
        worst = simplex[-1]
        reflected = centroid + (centroid - worst)
        fr = f(reflected)
        if values[0] <= fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
            continue
        if fr < values[0]:
            expanded = centroid + 2.0 * (centroid - worst)
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
            continue
        contracted = centroid + 0.5 * (worst - centroid)
        fc = f(contracted)
        if fc < values[-1]:
            simplex[-1], values[-1] = contracted, fc
            continue
        best = simplex[0]
        simplex = [best] + [best + 0.5 * (p - best) for p in simplex[1:]]
        values = [values[0]] + [f(p) for p in simplex[1:]]
    i = int(np.argmin(values))
    return simplex[i], values[i]


class GaussianProcess:
    """GP regression: `fit(X, y)` (optionally learning hyperparameters), then `predict(X*)`.

    With `normalize_y` (the default) scores are standardised before fitting, so one prior and one
    hyperparameter grid serve objectives scored in [-1, 1] and in thousands alike; predictions are
    returned in the original units.
    """

    def __init__(
        self,
        kernel: str = "matern52",
        hyper: GPHyper | None = None,
        *,
        normalize_y: bool = True,
        noise_bounds: tuple[float, float] = (1e-6, 1.0),
    ) -> None:
        kernel_fn(kernel)  # validate early
        self.kernel = kernel
        self.hyper = hyper
        self.normalize_y = normalize_y
        self.noise_bounds = noise_bounds
        self.lml: float | None = None
        self.jitter = 0.0
        self._x: np.ndarray | None = None

    # -- fitting ------------------------------------------------------------------------------------

    def fit(self, x: np.ndarray, y: np.ndarray, *, optimize: bool = True) -> GaussianProcess:
        x = np.atleast_2d(np.asarray(x, float))
        y = np.asarray(y, float).reshape(-1)
        if len(x) == 0:
            raise GPError("cannot fit a GP on zero points")
        if len(x) != len(y):
            raise GPError(f"{len(x)} inputs but {len(y)} scores")
        if not np.all(np.isfinite(y)) or not np.all(np.isfinite(x)):
            raise GPError("inputs and scores must be finite")
        self._mu, self._sd = (float(y.mean()), float(y.std())) if self.normalize_y else (0.0, 1.0)
        if self._sd < 1e-12:
            self._sd = 1.0
        yn = (y - self._mu) / self._sd
        if optimize or self.hyper is None:
            self.hyper = self.optimize_hyper(x, yn)
        self._x, self._yn = x, yn
        k = self._k(x, x) + self.hyper.noise * np.eye(len(x))
        self._lower, self.jitter = cholesky_jitter(k)
        self._alpha = _cho_solve(self._lower, yn)
        self.lml = log_marginal_likelihood(x, yn, self.hyper, self.kernel)
        return self

    def optimize_hyper(self, x: np.ndarray, yn: np.ndarray) -> GPHyper:
        """Maximise the log marginal likelihood over (log l, log σf², log σn²): grid, then Nelder-Mead."""
        d = np.sqrt(sq_dists(x, x))
        off = d[np.triu_indices(len(x), 1)]
        off = off[off > 1e-9]
        median = float(np.median(off)) if off.size else 1.0
        lo_n, hi_n = self.noise_bounds
        bounds = np.log([[median / 20.0, median * 20.0], [0.05, 20.0], [lo_n, hi_n]])

        def neg(theta: np.ndarray) -> float:
            theta = np.clip(theta, bounds[:, 0], bounds[:, 1])
            value = log_marginal_likelihood(x, yn, GPHyper(*np.exp(theta)), self.kernel)
            return -value if math.isfinite(value) else 1e30

        grid = [
            np.log([ls, sv, nz])
            for ls in median * np.geomspace(0.1, 10.0, 9)
            for sv in (0.3, 1.0, 3.0)
            for nz in np.geomspace(lo_n, hi_n, 4)
        ]
        scored = sorted(((neg(t), i) for i, t in enumerate(grid)))
        best_t, best_v = grid[scored[0][1]], scored[0][0]
        for _, i in scored[:2]:
            t, v = nelder_mead(neg, grid[i], step=0.5, iters=60)
            if v < best_v:
                best_t, best_v = t, v
        return GPHyper(*np.exp(np.clip(best_t, bounds[:, 0], bounds[:, 1])))

    # -- prediction ---------------------------------------------------------------------------------

    def _k(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        assert self.hyper is not None
        return kernel_fn(self.kernel)(a, b, self.hyper.length_scale, self.hyper.signal_variance)

    def predict(self, xs: np.ndarray, *, full_cov: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (or the full covariance) of the latent function at `xs`."""
        if self._x is None:
            raise GPError("predict called before fit")
        xs = np.atleast_2d(np.asarray(xs, float))
        ks = self._k(self._x, xs)
        mean = ks.T @ self._alpha
        v = _solve_lower(self._lower, ks)
        if full_cov:
            cov = self._k(xs, xs) - v.T @ v
            return self._mu + self._sd * mean, (self._sd**2) * cov
        var = np.maximum(self.hyper.signal_variance - (v * v).sum(0), 1e-12)
        return self._mu + self._sd * mean, (self._sd**2) * var

    def sample(self, xs: np.ndarray, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """`n` joint draws of the posterior function at `xs` (Thompson sampling), shape (n, len(xs))."""
        mean, cov = self.predict(xs, full_cov=True)
        lower, _ = cholesky_jitter(0.5 * (cov + cov.T))
        return mean[None, :] + (lower @ rng.standard_normal((len(mean), n))).T

    def describe(self) -> dict[str, float | str | int | None]:
        """What a trace records about the fit."""
        out: dict[str, float | str | int | None] = {
            "kernel": self.kernel,
            "n": 0 if self._x is None else len(self._x),
        }
        if self.hyper is not None:
            out.update(self.hyper.to_dict())
        out.update(
            log_marginal_likelihood=None if self.lml is None else round(float(self.lml), 4),
            jitter=self.jitter,
            y_mean=getattr(self, "_mu", None),
            y_std=getattr(self, "_sd", None),
        )
        return out
