"""The space a search over task embeddings moves in: a few principal directions of the trained rows.

A Gaussian process cannot model a score over the puzzle embedding's full width (64 to 512 numbers and
more), and uniform draws in that box land far from anything the network was trained to read. The rows
training did write are a map of where task embeddings live, so the search runs in their first `d`
principal components, scaled to unit variance: latent z (d numbers, about N(0, 1) for a trained task)
maps to `mean + z @ (std * basis)`. z = 0 is the mean trained embedding. Rows training never wrote
(the blank id 0, held-out tasks' ids, rows of identifiers absent from the data) are exactly zero and
are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrm_engine.errors import EngineError

MIN_TRAINED_ROWS = 2


@dataclass
class LatentSpace:
    """`mean` [ndim], `basis` [d, ndim] (orthonormal rows), `std` [d]: z -> mean + (z * std) @ basis."""

    mean: np.ndarray
    basis: np.ndarray
    std: np.ndarray
    explained: float  # share of the trained rows' variance the d components hold
    trained_rows: int
    anchors: np.ndarray | None = None  # [trained_rows, d]: the trained rows' own latent points

    @property
    def dim(self) -> int:
        return int(self.basis.shape[0])

    def to_embedding(self, z: np.ndarray) -> np.ndarray:
        """Latent points [K, d] (or [d]) to embedding rows [K, ndim] (or [ndim]), float32."""
        z = np.asarray(z, np.float64)
        return (self.mean + (z * self.std) @ self.basis).astype(np.float32)

    def to_latent(self, rows: np.ndarray) -> np.ndarray:
        """Embedding rows [K, ndim] projected onto the components, in latent units (what a point records)."""
        return ((np.asarray(rows, np.float64) - self.mean) @ self.basis.T) / self.std


def trained_rows(table: np.ndarray) -> np.ndarray:
    """The rows of a puzzle-embedding table that training wrote (any non-zero entry)."""
    table = np.asarray(table, np.float64)
    return table[np.any(table != 0, axis=1)]


def latent_space(table: np.ndarray, dim: int) -> LatentSpace:
    """PCA of the trained rows of `table`, keeping `dim` components (fewer if there are fewer rows)."""
    rows = trained_rows(table)
    if len(rows) < MIN_TRAINED_ROWS:
        raise EngineError(f"the checkpoint has {len(rows)} trained task embeddings; adaptation searches the "
                          f"space they span and needs at least {MIN_TRAINED_ROWS} (a model trained with puzzle "
                          f"identifiers, e.g. an ARC task family)")
    if dim < 1:
        raise EngineError(f"--latent-dim must be at least 1, got {dim}")
    mean = rows.mean(axis=0)
    centred = rows - mean
    _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(dim, len(sing))
    var = sing ** 2 / max(len(rows) - 1, 1)
    std = np.sqrt(np.maximum(var[:k], 1e-12))
    explained = float(var[:k].sum() / max(var.sum(), 1e-30))
    anchors = (centred @ vt[:k].T) / std
    return LatentSpace(mean=mean, basis=vt[:k], std=std, explained=explained, trained_rows=len(rows),
                       anchors=anchors)
