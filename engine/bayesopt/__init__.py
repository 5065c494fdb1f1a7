"""Bayesian optimisation's core, shared by `hrm agent optimize` (BOPRO over a language model's proposals)
and `hrm solve/eval --adapt bopro` (BOPRO over a recursive model's task embedding): one surrogate and one
set of acquisition functions, so both commands search the same way.

- `gp.py`: the Gaussian process (scikit-learn's regressor, constant x Matérn-5/2 + white noise, fitted
  hyperparameters, noise-free posterior).
- `acquisition.py`: expected improvement, UCB and Thompson sampling over that posterior.

Nothing here imports scikit-learn or SciPy at import time, so `hrm` and its completions start fast.
"""

from hrm_engine.bayesopt.acquisition import (
    ACQUISITIONS,
    acquisition_values,
    expected_improvement,
    upper_confidence_bound,
)
from hrm_engine.bayesopt.gp import KERNELS, GaussianProcess, GPError, GPHyper, median_distance

__all__ = [
    "ACQUISITIONS",
    "KERNELS",
    "GPError",
    "GPHyper",
    "GaussianProcess",
    "acquisition_values",
    "expected_improvement",
    "median_distance",
    "upper_confidence_bound",
]
