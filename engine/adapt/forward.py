"""The model run with task embeddings given as rows, not looked up by puzzle identifier.

ACT's segment already takes the puzzle rows as an argument (the trainer passes them so that their
gradient is an output of autodiff), so a candidate embedding needs no slot in the table: K candidates
scored on a task's D demonstrations are one batch of K x D rows, each row with its candidate's
embedding. Evaluation mode, all `halt_max_steps` segments from a fresh carry, as `hrm eval` runs.

One *evaluation* is one candidate embedding run on all of the task's demonstrations (the objective
BOPRO's budget counts). `loss_and_grad` is the gradient method's step: the same forward, then the
gradient of the demonstrations' loss with respect to the embedding (through the last segment's
gradient cycle, as training's deep supervision reaches it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlx.core as mx
import numpy as np

from hrm_datasets.arc import crop, encode
from hrm_engine.act import initial_carry, reset_halted, segment_step
from hrm_engine.losses import IGNORE_LABEL_ID, LOSSES

Pair = tuple[np.ndarray, np.ndarray]


@dataclass
class DemoScores:
    """Per candidate: token accuracy and exact share over the demonstrations; score = exact + token."""

    token: np.ndarray  # [K] mean over demos of the share of labelled cells right
    exact: np.ndarray  # [K] share of demos entirely right
    solved: np.ndarray  # [K, D] bool: demo d solved by candidate k

    @property
    def score(self) -> np.ndarray:
        return self.exact + self.token


def encode_pairs(pairs: list[Pair], canvas: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels [D, canvas^2] at the origin; unlabelled cells (pad) as the loss's ignore id."""
    xs, ys = zip(*(encode(i, o, (0, 0), canvas) for i, o in pairs))
    labels = np.stack(ys).astype(np.int32)
    labels[labels == 0] = IGNORE_LABEL_ID
    return np.stack(xs).astype(np.int32), labels


class TaskForward:
    """A checkpoint's model, run on one task's demonstrations or test inputs with given embedding rows."""

    def __init__(self, model: Any, canvas: int, demos: list[Pair], segments: int | None = None) -> None:
        self.model = model
        self.canvas = canvas
        self.segments = int(segments or model.config.halt_max_steps)
        self.ndim = int(model.puzzle_emb.shape[1])
        self.inputs, self.labels = encode_pairs(demos, canvas) if demos else (None, None)
        self._segment = mx.compile(lambda carry, rows: segment_step(model, carry, rows, training=False))
        self._grad = None

    @property
    def demo_count(self) -> int:
        return 0 if self.inputs is None else len(self.inputs)

    def _carry(self, inputs: np.ndarray) -> dict[str, mx.array]:
        B = len(inputs)
        batch = {"inputs": mx.array(inputs), "labels": mx.zeros((B, inputs.shape[1]), mx.int32),
                 "puzzle_identifiers": mx.zeros((B,), mx.int32)}
        return reset_halted(self.model, initial_carry(self.model, batch), batch)

    def rollout(self, inputs: np.ndarray, rows: mx.array, segments: int | None = None
                ) -> tuple[dict[str, mx.array], dict[str, mx.array]]:
        """All segments on `inputs` [B, S] with embedding `rows` [B, ndim]; the last carry and outputs."""
        carry, outputs = self._carry(inputs), {}
        for _ in range(segments or self.segments):
            carry, outputs = self._segment(carry, rows)
            mx.eval(carry, outputs)
        return carry, outputs

    def _tile(self, embeddings: np.ndarray) -> tuple[np.ndarray, mx.array]:
        K, D = len(embeddings), self.demo_count
        inputs = np.tile(self.inputs, (K, 1))
        rows = mx.array(np.repeat(np.asarray(embeddings, np.float32), D, axis=0))
        return inputs, rows

    def _scores(self, preds: np.ndarray, K: int) -> DemoScores:
        D = self.demo_count
        labels = np.tile(self.labels, (K, 1))
        mask = labels != IGNORE_LABEL_ID
        right = (preds == labels) & mask
        token = (right.sum(-1) / np.maximum(mask.sum(-1), 1)).reshape(K, D)
        solved = (right.sum(-1) == mask.sum(-1)).reshape(K, D)
        return DemoScores(token=token.mean(1), exact=solved.mean(1), solved=solved)

    def score(self, embeddings: np.ndarray) -> DemoScores:
        """K candidate embeddings [K, ndim] on every demonstration: K evaluations, one batch."""
        inputs, rows = self._tile(embeddings)
        _, outputs = self.rollout(inputs, rows)
        return self._scores(np.array(mx.argmax(outputs["logits"], axis=-1)), len(embeddings))

    def loss_and_grad(self, embedding: np.ndarray | mx.array) -> tuple[DemoScores, float, mx.array]:
        """One embedding's demo scores (its evaluation), mean demo loss and d loss / d embedding [ndim]."""
        inputs, _ = self._tile(np.zeros((1, self.ndim), np.float32))
        row = mx.array(embedding).astype(mx.float32)
        rows = mx.broadcast_to(row[None], (self.demo_count, self.ndim))
        carry, _ = self.rollout(inputs, rows, self.segments - 1) if self.segments > 1 else (self._carry(inputs), None)
        labels = mx.array(self.labels)
        counts = mx.maximum((labels != IGNORE_LABEL_ID).sum(-1), 1).astype(mx.float32)
        loss_fn = LOSSES[self.model.config.loss]

        def loss(r: mx.array) -> tuple[mx.array, mx.array]:
            rr = mx.broadcast_to(r[None], (self.demo_count, self.ndim))
            _, out = segment_step(self.model, carry, rr, training=False)
            return (loss_fn(out["logits"], labels).sum(-1) / counts).mean(), out["logits"]

        (value, logits), grad = mx.value_and_grad(loss)(row)  # the gradient of the first output
        mx.eval(value, logits, grad)
        return self._scores(np.array(mx.argmax(logits, axis=-1)), 1), float(value.item()), grad

    def predict(self, grids: list[np.ndarray], embeddings: np.ndarray) -> list[list[np.ndarray]]:
        """Outputs [K][T] for T test inputs under each of K embeddings, cropped to grids."""
        K, T = len(embeddings), len(grids)
        inputs = np.stack([encode(g, np.zeros((1, 1), np.uint8), (0, 0), self.canvas)[0] for g in grids])
        rows = mx.array(np.repeat(np.asarray(embeddings, np.float32), T, axis=0))
        _, outputs = self.rollout(np.tile(inputs, (K, 1)).astype(np.int32), rows)
        preds = np.array(mx.argmax(outputs["logits"], axis=-1))
        return [[crop(preds[k * T + t]) for t in range(T)] for k in range(K)]

