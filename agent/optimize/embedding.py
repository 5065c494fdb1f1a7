"""Latent vectors of candidate texts, the space in which BOPRO's Gaussian process works.

Two embedders, both returning unit-length float64 rows:
  - `ModelEmbedder`: hidden states of a local mlx-lm model (the default SmolLM2-135M-Instruct), mean-pooled
    over the candidate's own tokens. The candidate is read after a short fixed prefix and only its tokens
    are pooled: the first position of a small LM carries outsized "attention sink" activations that would
    otherwise dominate every vector.
  - `HashEmbedder`: signed feature hashing of character n-grams. Deterministic, instant, no model: for tests,
    for machines without MLX, and for runs against a remote server where loading a local model is unwanted.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hrm_agent.errors import AgentError, BackendError

EMBEDDINGS = ("model", "hash")
_PREFIX = "Candidate: "


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) unit vectors."""
        ...

    def describe(self) -> dict[str, Any]: ...


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


class HashEmbedder:
    """Character n-grams of the lower-cased text (word boundaries marked), hashed with a stable hash into
    `dim` signed buckets. Texts sharing many n-grams get close vectors: 'ocean' is nearer 'oceans' than
    'tree'."""

    name = "hash"

    def __init__(self, dim: int = 256, ngrams: tuple[int, ...] = (1, 2, 3, 4)) -> None:
        if dim < 8:
            raise AgentError(f"hash embedding dim must be >= 8, got {dim}")
        self.dim = dim
        self.ngrams = tuple(ngrams)

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim)
        padded = f" {' '.join(text.lower().split())} "
        for n in self.ngrams:
            for i in range(max(len(padded) - n + 1, 0)):
                digest = hashlib.blake2b(padded[i : i + n].encode(), digest_size=8).digest()
                h = int.from_bytes(digest, "little")
                vec[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return vec

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim))
        return _unit(np.stack([self._one(t) for t in texts]))

    def describe(self) -> dict[str, Any]:
        return {"embedding": self.name, "dim": self.dim, "ngrams": list(self.ngrams)}


class ModelEmbedder:
    """Mean-pooled final hidden states (after the model's last norm) of a local mlx-lm llama-family model."""

    name = "model"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        model: Any = None,
        tokenizer: Any = None,
        max_tokens: int = 64,
    ) -> None:
        self.max_tokens = max_tokens
        self._cache: dict[str, np.ndarray] = {}
        if model is None or tokenizer is None:
            model, tokenizer, model_path = _load(model_path)
        if not hasattr(model, "model"):
            raise AgentError(
                f"model {model_path}: no inner transformer (`model.model`) to read hidden states from"
            )
        self.model, self.tokenizer = model, tokenizer
        self.model_path = str(model_path) if model_path else None
        self._prefix = list(tokenizer.encode(_PREFIX))
        self.dim = int(
            self._hidden(
                self._prefix + list(tokenizer.encode("x", add_special_tokens=False)), len(self._prefix)
            ).shape[0]
        )

    def _hidden(self, tokens: list[int], start: int) -> np.ndarray:
        import mlx.core as mx

        h = self.model.model(mx.array([tokens]))  # (1, T, D) after the final RMSNorm
        pooled = h[0, start:].astype(mx.float32).mean(axis=0)
        mx.eval(pooled)
        return np.array(pooled, dtype=np.float64)

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            if text not in self._cache:
                own = list(self.tokenizer.encode(" ".join(text.split()) or " ", add_special_tokens=False))
                own = own[: self.max_tokens] or list(self.tokenizer.encode(" ", add_special_tokens=False))
                self._cache[text] = self._hidden(self._prefix + own, len(self._prefix))
            rows.append(self._cache[text])
        if not rows:
            return np.zeros((0, self.dim))
        return _unit(np.stack(rows))

    def describe(self) -> dict[str, Any]:
        return {
            "embedding": self.name,
            "dim": self.dim,
            "model_path": self.model_path,
            "pooling": "mean",
            "layer": "final (after norm)",
        }


def _load(model_path: str | Path | None) -> tuple[Any, Any, Path]:
    """mlx_lm.load on `model_path`, default: the converted offline SmolLM2 model."""
    try:
        import hrm_engine.cpu

        hrm_engine.cpu.setup()
        import mlx_lm
    except ImportError as exc:
        raise BackendError(f"model embedding needs mlx-lm ({exc}); use --embedding hash") from exc
    if model_path is None:
        from hrm_agent.backends.local_model import default_model_path

        model_path = default_model_path()
        path = Path(model_path)  # the same key the MLX backend caches the default model under
    else:
        path = Path(model_path).expanduser().resolve()
    if not (path / "config.json").is_file():
        raise AgentError(
            f"embedding model {path}: not an mlx-lm model folder (no config.json); "
            f"pass a model folder or use --embedding hash"
        )
    try:
        from hrm_agent.backends.mlx_backend import load_cached  # shares the weights with an in-process MLX backend
    except ImportError:
        load_cached = None
    try:
        if load_cached is not None:
            model, tokenizer, _ = load_cached(str(path))
        else:
            model, tokenizer = mlx_lm.load(str(path))[:2]
    except Exception as exc:  # mlx-lm raises many kinds for unreadable folders
        raise BackendError(f"cannot load embedding model {path}: {exc}; use --embedding hash") from exc
    return model, tokenizer, path


def make_embedder(kind: str, *, model_path: str | Path | None = None, backend: Any = None) -> Embedder:
    """`hash`, or `model`: hidden states of `model_path`, else of the folder an in-process MLX `backend` runs
    (weights shared with it), else of the default offline model. A server backend's model is never used:
    its hidden states are out of reach, so the local default model embeds instead."""
    name = (kind or "").strip().lower()
    if name == "hash":
        return HashEmbedder()
    if name == "model":
        if (
            model_path is None
            and getattr(backend, "name", "") == "mlx"
            and not getattr(backend, "_default", True)
        ):
            model_path = backend.model
        return ModelEmbedder(model_path)
    raise AgentError(f"unknown embedding {kind!r}; choose one of: {', '.join(EMBEDDINGS)}")
