"""The Gaussian-process surrogate BOPRO fits on (latent vector, score) pairs: scikit-learn's
`GaussianProcessRegressor` with a constant × Matérn(ν = 5/2) + white-noise kernel.

Why these choices: the BOPRO paper models scores over a latent space of solutions with a Matérn GP
whose hyperparameters are fitted (issue 18), and Matérn 5/2 is the usual default of Bayesian optimisation
(twice differentiable, less over-confident between points than RBF). The signal variance, length scale and
noise level maximise the log marginal likelihood (L-BFGS-B in log space, from the median-distance start
plus `restarts` log-uniform draws, seeded so a run repeats). Scores are standardised (`normalize_y`), so one
set of bounds serves objectives scored in [-1, 1] and in thousands alike; predictions come back in the
original units.

`predict` returns the posterior of the latent (noise-free) function: the acquisition asks how good the
objective is there, not how noisy one more evaluation would be. The fitted white-noise level is therefore
removed from scikit-learn's predictive variance. A fit whose covariance does not factorise (near-duplicate
candidates with a tiny noise level) is retried with growing diagonal jitter (`alpha`), so it never crashes.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # scikit-learn is imported where a GP is built: `hrm` and its completions start fast
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import Kernel

KERNELS = ("matern52", "rbf")
_JITTERS = (1e-10, 1e-8, 1e-6, 1e-4, 1e-2)
SIGNAL_BOUNDS = (0.05, 20.0)  # signal variance, in units of the standardised scores' variance
LENGTH_SCALE_RANGE = 20.0  # length scale within median distance / 20 .. median distance * 20


class GPError(ValueError):
    """The data cannot be modelled (no points, shape mismatch, a matrix that never factorises)."""


@dataclass
class GPHyper:
    """Kernel hyperparameters, in the units of the standardised scores when `normalize_y` is on."""

    length_scale: float
    signal_variance: float
    noise: float  # white-noise variance added to the diagonal

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def _base_kernel(name: str, length_scale: float, bounds: tuple[float, float] | str) -> Kernel:
    from sklearn.gaussian_process.kernels import RBF, Matern

    if name == "matern52":
        return Matern(length_scale=length_scale, length_scale_bounds=bounds, nu=2.5)
    if name == "rbf":
        return RBF(length_scale=length_scale, length_scale_bounds=bounds)
    raise GPError(f"unknown kernel {name!r}; choose one of: {', '.join(KERNELS)}")


def median_distance(x: np.ndarray) -> float:
    """Median pairwise distance of distinct points (1.0 when there are none): the length-scale prior."""
    diff = x[:, None, :] - x[None, :, :]
    d = np.sqrt((diff * diff).sum(-1))[np.triu_indices(len(x), 1)]
    d = d[d > 1e-9]
    return float(np.median(d)) if d.size else 1.0


class GaussianProcess:
    """GP regression: `fit(X, y)` (learning hyperparameters unless told not to), then `predict(X*)`.

    `hyper` fixes the hyperparameters (with `fit(..., optimize=False)`); otherwise they start from the
    median pairwise distance and are fitted by marginal likelihood with `restarts` extra random starts.
    """

    def __init__(
        self,
        kernel: str = "matern52",
        hyper: GPHyper | None = None,
        *,
        normalize_y: bool = True,
        noise_bounds: tuple[float, float] = (1e-6, 1.0),
        restarts: int = 3,
        seed: int = 0,
    ) -> None:
        _base_kernel(kernel, 1.0, "fixed")  # validate early
        self.kernel = kernel
        self.hyper = hyper
        self.normalize_y = normalize_y
        self.noise_bounds = noise_bounds
        self.restarts = int(restarts)
        self.seed = int(seed)
        self.lml: float | None = None
        self.jitter = 0.0
        self.at_bounds: list[str] = []
        self.model: GaussianProcessRegressor | None = None

    # -- fitting ------------------------------------------------------------------------------------

    def _kernel(self, x: np.ndarray, fixed: bool) -> Kernel:
        from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel

        if fixed and self.hyper is not None:
            h = self.hyper
            return ConstantKernel(h.signal_variance, "fixed") * _base_kernel(
                self.kernel, h.length_scale, "fixed"
            ) + WhiteKernel(h.noise, "fixed")
        median = median_distance(x)
        ls_bounds = (median / LENGTH_SCALE_RANGE, median * LENGTH_SCALE_RANGE)
        return ConstantKernel(1.0, SIGNAL_BOUNDS) * _base_kernel(self.kernel, median, ls_bounds) + WhiteKernel(
            math.sqrt(self.noise_bounds[0] * self.noise_bounds[1]), self.noise_bounds
        )

    def fit(self, x: np.ndarray, y: np.ndarray, *, optimize: bool = True) -> GaussianProcess:
        x = np.atleast_2d(np.asarray(x, float))
        y = np.asarray(y, float).reshape(-1)
        if len(x) == 0:
            raise GPError("cannot fit a GP on zero points")
        if len(x) != len(y):
            raise GPError(f"{len(x)} inputs but {len(y)} scores")
        if not np.all(np.isfinite(y)) or not np.all(np.isfinite(x)):
            raise GPError("inputs and scores must be finite")
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        fixed = not optimize and self.hyper is not None
        last: Exception | None = None
        for jitter in _JITTERS:
            model = GaussianProcessRegressor(
                kernel=self._kernel(x, fixed),
                alpha=jitter,
                normalize_y=self.normalize_y,
                optimizer=None if fixed else "fmin_l_bfgs_b",
                n_restarts_optimizer=0 if fixed else self.restarts,
                random_state=self.seed,
            )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                try:
                    model.fit(x, y)
                except (np.linalg.LinAlgError, ValueError) as exc:
                    last = exc
                    continue
            self.at_bounds = sorted(
                {_bound_name(str(w.message)) for w in caught if issubclass(w.category, ConvergenceWarning)}
                - {""}
            )
            self.model, self.jitter = model, jitter
            # scikit-learn's own standardisation: mean and population std, a zero std counted as 1
            sd = float(np.std(y))
            self._y_mean = float(np.mean(y)) if self.normalize_y else 0.0
            self._y_std = (sd if sd >= 10 * np.finfo(float).eps else 1.0) if self.normalize_y else 1.0
            k = model.kernel_
            self.hyper = GPHyper(
                length_scale=float(k.k1.k2.length_scale),
                signal_variance=float(k.k1.k1.constant_value),
                noise=float(k.k2.noise_level),
            )
            self.lml = float(model.log_marginal_likelihood_value_)
            return self
        raise GPError(f"the covariance matrix does not factorise even with jitter {_JITTERS[-1]:g}: {last}")

    def log_marginal_likelihood(self, hyper: GPHyper) -> float:
        """log p(y | X, θ) of the fitted data (standardised scores) under other hyperparameters `hyper`."""
        model = self._fitted()
        theta = np.log([hyper.signal_variance, hyper.length_scale, hyper.noise])
        return float(model.log_marginal_likelihood(theta))

    # -- prediction ---------------------------------------------------------------------------------

    def _fitted(self) -> GaussianProcessRegressor:
        if self.model is None:
            raise GPError("predict called before fit")
        return self.model

    @property
    def y_mean(self) -> float:
        """The scores' mean subtracted before fitting (0.0 without `normalize_y`)."""
        self._fitted()
        return self._y_mean

    @property
    def y_std(self) -> float:
        """The scores' standard deviation used to standardise them (1.0 without `normalize_y`)."""
        self._fitted()
        return self._y_std

    def _noise(self) -> float:
        """The fitted white-noise variance in the original units of the scores."""
        assert self.hyper is not None
        return self.hyper.noise * self.y_std**2

    def predict(self, xs: np.ndarray, *, full_cov: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (or full covariance) of the latent function at `xs`, in score units."""
        model = self._fitted()
        xs = np.atleast_2d(np.asarray(xs, float))
        if full_cov:
            mean, cov = model.predict(xs, return_cov=True)
            return mean, cov - self._noise() * np.eye(len(xs))
        mean, std = model.predict(xs, return_std=True)
        return mean, np.maximum(std * std - self._noise(), 1e-12 * self.y_std**2)

    def sample(self, xs: np.ndarray, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """`n` joint draws of the latent posterior at `xs` (Thompson sampling), shape (n, len(xs))."""
        mean, cov = self.predict(xs, full_cov=True)
        cov = 0.5 * (cov + cov.T)
        scale = max(float(np.mean(np.diag(cov))), 1e-12)
        for jitter in (0.0, *_JITTERS):
            try:
                lower = np.linalg.cholesky(cov + jitter * scale * np.eye(len(mean)))
                break
            except np.linalg.LinAlgError:
                continue
        else:
            raise GPError("the posterior covariance does not factorise; cannot draw a sample")
        return mean[None, :] + (lower @ rng.standard_normal((len(mean), n))).T

    def describe(self) -> dict[str, Any]:
        """What a trace records about the fit."""
        out: dict[str, Any] = {"kernel": self.kernel, "n": 0 if self.model is None else len(self.model.X_train_)}
        if self.hyper is not None:
            out.update(self.hyper.to_dict())
        out.update(
            log_marginal_likelihood=None if self.lml is None else round(self.lml, 4),
            jitter=self.jitter,
            restarts=self.restarts,
            at_bounds=self.at_bounds,
            y_mean=None if self.model is None else self.y_mean,
            y_std=None if self.model is None else self.y_std,
        )
        return out


def _bound_name(message: str) -> str:
    """Which hyperparameter a scikit-learn ConvergenceWarning says sits at its bound ('' if none)."""
    for key, name in (("k1__k1", "signal_variance"), ("k1__k2", "length_scale"), ("k2__noise_level", "noise")):
        if key in message:
            return name
    return ""
