"""Random input grids for the synthetic ARC family, one style per kind of rule that needs them.

A rule shows only on inputs that exercise it: gravity needs sparse cells with room to fall, filling
enclosed regions needs closed outlines, recolouring by size needs separate objects of different sizes.
A rule takes the most structured style any of its parts asks for (STYLE_ORDER), since the others
(flips, colour maps, translations) show on any grid.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hrm_datasets.arc_rules import Grid

STYLE_ORDER = ("noise", "sparse", "pixels", "objects", "boxes")  # later = more structured, wins in a rule


def _noise(rng: np.random.Generator, h: int, w: int, palette: tuple[int, ...]) -> Grid:
    """Cells coloured from the palette with a density of 30..90 %."""
    filled = rng.random((h, w)) < rng.uniform(0.3, 0.9)
    return np.where(filled, rng.choice(palette, size=(h, w)), 0).astype(np.uint8)


def _sparse(rng: np.random.Generator, h: int, w: int, palette: tuple[int, ...]) -> Grid:
    """Cells coloured from the palette with a density of 10..35 %: room to fall or move."""
    filled = rng.random((h, w)) < rng.uniform(0.1, 0.35)
    return np.where(filled, rng.choice(palette, size=(h, w)), 0).astype(np.uint8)


def _free(taken: np.ndarray, r: int, c: int, mask: np.ndarray) -> bool:
    """Whether `mask` placed at (r, c) keeps one background cell between it and everything already placed."""
    h, w = mask.shape
    r0, c0 = max(r - 1, 0), max(c - 1, 0)
    return not taken[r0:r + h + 1, c0:c + w + 1].any()


def _place(rng: np.random.Generator, grid: Grid, taken: np.ndarray, mask: np.ndarray, colour: int,
           tries: int = 30) -> bool:
    """Put a shape at a random free position (8-separated from the others), if one is found."""
    h, w = mask.shape
    if h > grid.shape[0] or w > grid.shape[1]:
        return False
    for _ in range(tries):
        r, c = int(rng.integers(0, grid.shape[0] - h + 1)), int(rng.integers(0, grid.shape[1] - w + 1))
        if _free(taken, r, c, mask):
            grid[r:r + h, c:c + w][mask] = colour
            taken[r:r + h, c:c + w] |= mask
            return True
    return False


def _pixels(rng: np.random.Generator, h: int, w: int, palette: tuple[int, ...]) -> Grid:
    """A few isolated pixels (no two touching, diagonals included): sources for lines."""
    grid, taken = np.zeros((h, w), np.uint8), np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, max(2, h * w // 12) + 1))):
        _place(rng, grid, taken, np.ones((1, 1), bool), int(rng.choice(palette)))
    return grid


def blob(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random 4-connected shape of `size` cells, as a boolean mask cropped to its bounding box."""
    cells = {(0, 0)}
    while len(cells) < size:
        r, c = list(cells)[int(rng.integers(len(cells)))]
        dr, dc = ((1, 0), (-1, 0), (0, 1), (0, -1))[int(rng.integers(4))]
        cells.add((r + dr, c + dc))
    rows, cols = zip(*cells)
    mask = np.zeros((max(rows) - min(rows) + 1, max(cols) - min(cols) + 1), bool)
    for r, c in cells:
        mask[r - min(rows), c - min(cols)] = True
    return mask


def _objects(rng: np.random.Generator, h: int, w: int, palette: tuple[int, ...]) -> Grid:
    """2..5 separate single-colour objects of 1..6 cells (sizes drawn so that they tend to differ)."""
    grid, taken = np.zeros((h, w), np.uint8), np.zeros((h, w), bool)
    count = int(rng.integers(2, 6))
    for size in rng.choice(np.arange(1, 7), size=count, replace=count > 6):
        _place(rng, grid, taken, blob(rng, int(size)), int(rng.choice(palette)))
    return grid


def _boxes(rng: np.random.Generator, h: int, w: int, palette: tuple[int, ...]) -> Grid:
    """1..3 rectangle outlines (3x3 to 6x6; grids are at least 3x3), some with a gap so that not every box encloses, and a few pixels."""
    grid, taken = np.zeros((h, w), np.uint8), np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, 4))):
        bh, bw = int(rng.integers(3, min(h, 6) + 1)), int(rng.integers(3, min(w, 6) + 1))
        mask = np.zeros((bh, bw), bool)
        mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = True
        if rng.random() < 0.3:  # an open box: its inside reaches the border, so it must stay unfilled
            sides = [(r, c) for r, c in zip(*np.nonzero(mask)) if (r in (0, bh - 1)) != (c in (0, bw - 1))]
            mask[sides[int(rng.integers(len(sides)))]] = False
        _place(rng, grid, taken, mask, int(rng.choice(palette)))
    for _ in range(int(rng.integers(0, 3))):
        _place(rng, grid, taken, np.ones((1, 1), bool), int(rng.choice(palette)))
    return grid


STYLES: dict[str, Callable[[np.random.Generator, int, int, tuple[int, ...]], Grid]] = {
    "noise": _noise, "sparse": _sparse, "pixels": _pixels, "objects": _objects, "boxes": _boxes}
PALETTE_SIZES = {"noise": (2, 4), "sparse": (1, 3), "pixels": (1, 3), "objects": (1, 3), "boxes": (1, 2)}


def palette_for(rng: np.random.Generator, style: str) -> tuple[int, ...]:
    """The task's foreground colours: a few of 1..9, shared by all its pairs (so demonstrations show them)."""
    lo, hi = PALETTE_SIZES[style]
    size = int(rng.integers(lo, hi + 1))
    return tuple(sorted(int(c) for c in rng.choice(np.arange(1, 10), size=size, replace=False)))


def make_input(style: str, rng: np.random.Generator, h: int, w: int, palette: tuple[int, ...]) -> Grid:
    return STYLES[style](rng, h, w, palette)
