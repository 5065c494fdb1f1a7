"""Grid-relative positions (`arch.pos_encodings: grid`, engine/models/grid_positions.py): the indices a cell
gets from its grid's extent, what they let one attention hop read (a flip's source cell), the config's
refusal of a non-square sequence, and that training reaches the tables."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from hrm_datasets.arc import encode
from hrm_engine.errors import ConfigError
from hrm_engine.models.grid_positions import grid_indices
from hrm_engine.models.trm import TRM, TRMConfig


def indices(grid: np.ndarray, offset: tuple[int, int], side: int) -> np.ndarray:
    tokens, _ = encode(grid, grid, offset, canvas=side)
    return np.array(grid_indices(mx.array(tokens[None].astype(np.int32)), side))[0].reshape(4, side, side)


def test_indices_count_from_each_edge_of_the_grid():
    grid = np.arange(6, dtype=np.uint8).reshape(3, 2)  # 3 rows, 2 columns, at row 1, column 2 of a 6x6 canvas
    top, left, bottom, right = indices(grid, (1, 2), 6)
    assert top[:, 0].tolist() == [6, 0, 1, 2, 3, 4]  # 6: above the grid
    assert bottom[:, 0].tolist() == [3, 2, 1, 0, 6, 6]  # 6: below it (the EOS row too)
    assert left[0].tolist() == [6, 6, 0, 1, 2, 3]
    assert right[0].tolist() == [3, 2, 1, 0, 6, 6]


@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (4, 3), (5, 5)])
def test_a_cell_and_its_mirror_swap_indices(shape):
    """What a flip or a rotation needs: the cell a flip reads from has, counted from the other edge, the
    reading cell's index, whatever the grid's size (a flat position cannot say this)."""
    h, w = shape
    rng = np.random.default_rng(h * 10 + w)
    top, left, bottom, right = indices(rng.integers(0, 10, shape).astype(np.uint8), (0, 0), 6)
    for r in range(h):
        for c in range(w):
            assert left[r, c] == right[r, w - 1 - c] and top[r, c] == bottom[h - 1 - r, c]
            if h == w:  # a quarter turn: out[r][c] = in[h-1-c][r]
                assert (bottom[h - 1 - c, r], left[h - 1 - c, r]) == (left[r, c], top[r, c])


def test_an_empty_canvas_does_not_fail():
    idx = np.array(grid_indices(mx.zeros((2, 16), mx.int32), 4))
    assert idx.shape == (2, 4, 16) and idx.min() >= 0 and idx.max() <= 4


def config(**kw) -> TRMConfig:
    args = dict(seq_len=16, vocab_size=12, num_puzzle_identifiers=3, hidden_size=32, num_heads=2, L_layers=1,
                H_cycles=1, L_cycles=2, halt_max_steps=1, puzzle_emb_len=1, mlp_t=False, pos_encodings="grid",
                forward_dtype="float32")
    return TRMConfig(**{**args, **kw})


def test_a_sequence_that_is_not_a_square_canvas_is_refused():
    with pytest.raises(ConfigError, match="square canvas.*seq_len is 12"):
        config(seq_len=12)


def test_the_embedding_depends_on_the_grid_not_the_flat_position():
    """Two inputs with the same tokens at a flat position but grids of other widths embed it differently;
    the gradient of the output reaches the four tables."""
    mx.random.seed(0)
    model = TRM(config())
    a, _ = encode(np.full((2, 2), 3, np.uint8), np.zeros((2, 2), np.uint8), canvas=4)
    b, _ = encode(np.full((2, 3), 3, np.uint8), np.zeros((2, 3), np.uint8), canvas=4)
    inputs = mx.array(np.stack([a, b]).astype(np.int32))
    rows = mx.zeros((2, 32))
    x = np.array(model.input_embeddings(inputs, rows))
    assert x.shape == (2, 17, 32) and np.all(x[:, 0] == 0)  # the zero puzzle row stays zero
    assert not np.allclose(x[0, 1 + 0], x[1, 1 + 0])  # cell (0, 0): 1 from the right in one, 2 in the other

    def loss(tables):
        model.embed_grid = tables
        return model.input_embeddings(inputs, rows).sum()

    grad = np.array(mx.grad(loss)(model.embed_grid))
    assert grad.shape == (4, 5, 32) and np.all(np.abs(grad).sum(axis=(1, 2)) > 0)
