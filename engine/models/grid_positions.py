"""Grid-relative positions for puzzles drawn on a square canvas (ARC): `arch.pos_encodings: grid`.

Neither reference has this (both use 1-D RoPE or one learned vector per flat position). It exists because
a flat position cannot say where a cell sits in *its grid*: a horizontal flip sends column c of a grid of
width W to column W-1-c, and W changes from example to example. Here every cell gets four learned
vectors, picked by its row and column counted from the input grid's first row/column and from its last
(the bounding box of the colour tokens, which also covers grids translated away from the origin). With
them one attention hop can pair a cell with its mirror, its transpose or its neighbour, whatever the grid's
size. Cells outside the box on one side get that side's "outside" index (the canvas side). Attention keeps
RoPE over the flat sequence as with `rope`, which gives the relative offsets (a neighbour is +-1 or +-side):
the tables are added to the input, as `learned` positions are.
"""

from __future__ import annotations

import math

import mlx.core as mx

from hrm_engine.errors import ConfigError

FIRST_COLOUR = 2  # ARC tokens: pad 0, EOS 1, colour + 2 (hrm_datasets.arc)


def canvas_side(seq_len: int) -> int:
    """The canvas's side; the sequence must be a square canvas flattened row by row."""
    side = math.isqrt(seq_len)
    if side * side != seq_len:
        raise ConfigError(f"arch.pos_encodings=grid needs a square canvas, but seq_len is {seq_len}; "
                          f"use rope or learned for this dataset")
    return side


def grid_indices(inputs: mx.array, side: int) -> mx.array:
    """[B, S] tokens -> [B, 4, S] indices in 0..side: row and column from the input grid's first
    row/column, then from its last; `side` where the cell lies before the first (after the last)."""
    B = inputs.shape[0]
    colour = (inputs >= FIRST_COLOUR).reshape(B, side, side)
    axis = mx.arange(side)
    out = []
    for occupied in (colour.any(axis=2), colour.any(axis=1)):  # rows, then columns
        first = mx.argmax(occupied, axis=1, keepdims=True)
        last = side - 1 - mx.argmax(occupied[:, ::-1], axis=1, keepdims=True)
        out.append((mx.where(axis >= first, axis - first, side), mx.where(axis <= last, last - axis, side)))
    (row_from_top, row_from_bottom), (col_from_left, col_from_right) = out

    def per_cell(index: mx.array, axis: int) -> mx.array:  # a row's (axis 2) or a column's (1) index per cell
        return mx.broadcast_to(mx.expand_dims(index, axis), (B, side, side)).reshape(B, side * side)

    return mx.stack([per_cell(row_from_top, 2), per_cell(col_from_left, 1),
                     per_cell(row_from_bottom, 2), per_cell(col_from_right, 1)], axis=1)


def grid_position_embeddings(inputs: mx.array, tables: mx.array, prefix_len: int) -> mx.array:
    """[B, prefix + S, D]: zeros on the puzzle prefix, then the sum of the four tables' rows per cell.
    `tables` is [4, side + 1, D]."""
    side = tables.shape[1] - 1
    idx = grid_indices(inputs, side)
    pos = sum(tables[k][idx[:, k]] for k in range(4))
    B, S, D = pos.shape
    return mx.concatenate([mx.zeros((B, prefix_len, D), pos.dtype), pos], axis=1)
