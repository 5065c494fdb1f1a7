"""Acquisition functions: where in latent space the next candidate is most worth looking for (maximisation).

Expected improvement (the default) balances the GP's mean against its uncertainty in closed form; UCB
trades them with an explicit β; Thompson sampling draws one plausible objective from the posterior and
takes its maximum, which explores more on small histories. All three read the GP's posterior of the
latent (noise-free) objective: its predictive mean and standard deviation (`GaussianProcess.predict`).
"""

from __future__ import annotations

import math

import numpy as np

from hrm_engine.bayesopt.gp import GaussianProcess

ACQUISITIONS = ("ei", "ucb", "thompson")


def expected_improvement(mean: np.ndarray, var: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """E[max(f - best - ξ, 0)] under f ~ N(mean, var): (μ-best-ξ)Φ(z) + σφ(z), z = (μ-best-ξ)/σ.

    Where σ is 0 the improvement is certain: max(μ - best - ξ, 0).
    """
    mean = np.asarray(mean, float)
    sigma = np.sqrt(np.maximum(np.asarray(var, float), 0.0))
    gain = mean - best - xi
    out = np.maximum(gain, 0.0)
    pos = sigma > 1e-12
    from scipy.special import ndtr  # the standard normal CDF

    z = gain[pos] / sigma[pos]
    out[pos] = gain[pos] * ndtr(z) + sigma[pos] * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return out


def upper_confidence_bound(mean: np.ndarray, var: np.ndarray, beta: float = 2.0) -> np.ndarray:
    """μ + √β σ: optimism in the face of uncertainty."""
    return np.asarray(mean, float) + math.sqrt(beta) * np.sqrt(np.maximum(np.asarray(var, float), 0.0))


def acquisition_values(
    kind: str,
    gp: GaussianProcess,
    xs: np.ndarray,
    best: float,
    rng: np.random.Generator,
    *,
    xi: float = 0.01,
    beta: float = 2.0,
) -> dict[str, np.ndarray]:
    """{"value", "mean", "std"} over the points `xs` for acquisition `kind` (higher value = evaluate first).

    ξ for EI is in the units of the scores' standard deviation (scaled by the GP's y_std).
    """
    mean, var = gp.predict(xs)
    if kind == "ei":
        value = expected_improvement(mean, var, best, xi * gp.y_std)
    elif kind == "ucb":
        value = upper_confidence_bound(mean, var, beta)
    elif kind == "thompson":
        value = gp.sample(xs, rng, 1)[0]
    else:
        raise ValueError(f"unknown acquisition {kind!r}; choose one of: {', '.join(ACQUISITIONS)}")
    return {"value": value, "mean": mean, "std": np.sqrt(var)}
