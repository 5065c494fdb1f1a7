"""Rule primitives of the synthetic ARC family: small grid functions with parameters and a signature.

A `Part` is one primitive with its parameters (`gravity{down}`); a `Rule` applies its parts first to
last and writes its signature in function order, so `flip_h∘colour_map{1:3}` maps colours first.
Every part belongs to a family (rotate, reflect, colour_map, ...). Each family is closed under the
ARC builder's augmentations: a dihedral transform or a colour permutation (0 fixed) of a task whose
rule is in a family gives a task whose rule is in the same family (gravity down becomes gravity left,
colour_map{1:3} becomes colour_map{5:7}). The held-out split is made over families for that reason
(docs/arc-synthetic.md): augmenting a training task never produces a held-out combination.

Grids are uint8 arrays, colours 0..9, 0 the background. Objects are 4-connected cells of one colour.
A part answers None where it does not apply (no unique largest object, nothing to crop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy import ndimage

Grid = np.ndarray
Params = tuple
COLOURS = tuple(range(1, 10))
DIRECTIONS = ("down", "up", "left", "right")


# --- helpers -----------------------------------------------------------------------------------------------------


def objects(grid: Grid) -> list[tuple[int, np.ndarray]]:
    """(colour, mask) of every 4-connected single-colour object, in a fixed order (colour, then scan order)."""
    found = []
    for colour in np.unique(grid):
        if colour == 0:
            continue
        labels, n = ndimage.label(grid == colour)
        found.extend((int(colour), labels == k) for k in range(1, n + 1))
    return found


def _unique_extreme(grid: Grid, largest: bool) -> np.ndarray | None:
    """The mask of the one largest (or smallest) object, or None where there is a tie or no object."""
    objs = objects(grid)
    if not objs:
        return None
    sizes = [int(mask.sum()) for _, mask in objs]
    target = max(sizes) if largest else min(sizes)
    if sizes.count(target) != 1:
        return None
    return objs[sizes.index(target)][1]


def _towards(grid: Grid, direction: str, down: Callable[[Grid], Grid]) -> Grid:
    """Apply a column-wise 'downwards' operation in any of the four directions by flipping and transposing."""
    if direction == "down":
        return down(grid)
    if direction == "up":
        return np.flipud(down(np.flipud(grid)))
    if direction == "right":
        return down(grid.T).T
    return np.fliplr(down(np.fliplr(grid).T).T)  # left


def _fall(grid: Grid) -> Grid:
    """Every non-background cell drops to the bottom of its column, keeping the column's order."""
    out = np.zeros_like(grid)
    for c in range(grid.shape[1]):
        column = grid[:, c][grid[:, c] != 0]
        if len(column):
            out[grid.shape[0] - len(column):, c] = column
    return out


def _extend(grid: Grid) -> Grid:
    """Every background cell takes the colour of the nearest non-background cell above it (a line downwards)."""
    out = grid.copy()
    for c in range(grid.shape[1]):
        colour = 0
        for r in range(grid.shape[0]):
            if grid[r, c]:
                colour = grid[r, c]
            elif colour:
                out[r, c] = colour
    return out


def _mapping(pairs: tuple[tuple[int, int], ...]) -> str:
    return ",".join(f"{a}:{b}" for a, b in pairs)


# --- the families ------------------------------------------------------------------------------------------------


def _rotate(grid: Grid, p: Params) -> Grid:
    return np.rot90(grid, p[0])


REFLECTIONS = {"flip_h": np.fliplr, "flip_v": np.flipud, "transpose": lambda g: g.T,
               "anti_transpose": lambda g: np.rot90(g, 2).T}


def _reflect(grid: Grid, p: Params) -> Grid:
    return REFLECTIONS[p[0]](grid)


def _colour_map(grid: Grid, p: Params) -> Grid:
    lut = np.arange(10, dtype=np.uint8)
    for a, b in p:
        lut[a] = b
    return lut[grid]


def _sample_colour_map(rng: np.random.Generator, palette: tuple[int, ...]) -> Params:
    """A permutation of some palette colours, or some palette colours sent to colours outside the palette."""
    changed = [int(c) for c in rng.choice(palette, size=int(rng.integers(1, len(palette) + 1)), replace=False)]
    others = [c for c in COLOURS if c not in palette]
    if len(changed) >= 2 and rng.random() < 0.5:
        targets = list(np.roll(changed, int(rng.integers(1, len(changed)))))  # a cyclic shift: nobody stays
    else:
        targets = [int(rng.choice(others)) for _ in changed]
    return tuple(sorted((a, int(b)) for a, b in zip(changed, targets)))


def _translate(grid: Grid, p: Params) -> Grid:
    dr, dc, mode = p
    if mode == "wrap":
        return np.roll(grid, (dr, dc), axis=(0, 1))
    h, w = grid.shape
    out = np.zeros_like(grid)
    if abs(dr) < h and abs(dc) < w:
        out[max(dr, 0):h + min(dr, 0), max(dc, 0):w + min(dc, 0)] = grid[max(-dr, 0):h - max(dr, 0),
                                                                         max(-dc, 0):w - max(dc, 0)]
    return out


TRANSLATIONS = tuple((dr, dc, mode) for mode in ("wrap", "crop") for dr in range(-2, 3) for dc in range(-2, 3)
                     if (dr, dc) != (0, 0))


def _gravity(grid: Grid, p: Params) -> Grid:
    return _towards(grid, p[0], _fall)


def _fill_enclosed(grid: Grid, p: Params) -> Grid:
    """Background cells that cannot reach the border through background (4-connected) take colour p[0]."""
    labels, _ = ndimage.label(grid == 0)
    outside = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = (labels > 0) & ~np.isin(labels, outside)
    out = grid.copy()
    out[enclosed] = p[0]
    return out


def _recolour(grid: Grid, p: Params) -> Grid | None:
    """largest/smallest: that (unique) object takes colour c; sizes: every object of a listed size takes its colour."""
    out = grid.copy()
    if p[0] == "sizes":
        table = dict(p[1])
        for _, mask in objects(grid):
            size = int(mask.sum())
            if size in table:
                out[mask] = table[size]
        return out
    mask = _unique_extreme(grid, p[0] == "largest")
    if mask is None:
        return None
    out[mask] = p[1]
    return out


def _sample_recolour(rng: np.random.Generator, palette: tuple[int, ...]) -> Params:
    others = [c for c in COLOURS if c not in palette]
    mode = ("largest", "smallest", "sizes")[int(rng.integers(3))]
    if mode != "sizes":
        return (mode, int(rng.choice(others)))
    sizes = sorted(int(s) for s in rng.choice(np.arange(1, 5), size=int(rng.integers(1, 4)), replace=False))
    colours = rng.choice(others, size=len(sizes), replace=False)
    return ("sizes", tuple((s, int(c)) for s, c in zip(sizes, colours)))


def _recolour_label(p: Params) -> str:
    return f"recolour_by_size{{{_mapping(p[1])}}}" if p[0] == "sizes" else f"recolour_{p[0]}{{{p[1]}}}"


def _filter(grid: Grid, p: Params) -> Grid | None:
    """remove: objects of at most p[1] cells vanish; keep_largest: everything but the unique largest object does."""
    if p[0] == "keep_largest":
        mask = _unique_extreme(grid, True)
        return None if mask is None else np.where(mask, grid, 0).astype(grid.dtype)
    out = grid.copy()
    for _, mask in objects(grid):
        if mask.sum() <= p[1]:
            out[mask] = 0
    return out


def _crop(grid: Grid, p: Params) -> Grid | None:
    """The bounding box of all non-background cells, or of the unique largest object."""
    mask = grid != 0 if p[0] == "all" else _unique_extreme(grid, True)
    if mask is None or not mask.any():
        return None
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return grid[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _scale(grid: Grid, p: Params) -> Grid:
    return np.repeat(np.repeat(grid, p[0], axis=0), p[0], axis=1)


def _tile(grid: Grid, p: Params) -> Grid:
    return np.tile(grid, p)


def _lines(grid: Grid, p: Params) -> Grid:
    return _towards(grid, p[0], _extend)


# --- fitted alternatives (the ambiguity check tries them beside every enumerated part) --------------------------


def fit_colour_map(pairs: list[tuple[Grid, Grid]]) -> Params | None:
    """The cell-wise colour map (background included) that explains every pair, if one does."""
    table: dict[int, int] = {}
    for inp, out in pairs:
        if inp.shape != out.shape:
            return None
        for a, b in zip(inp.ravel().tolist(), out.ravel().tolist()):
            if table.setdefault(a, b) != b:
                return None
    changed = tuple(sorted((a, b) for a, b in table.items() if a != b))
    return changed or None


def fit_recolour_sizes(pairs: list[tuple[Grid, Grid]]) -> Params | None:
    """The size -> colour table that explains every pair, if one does (objects of other sizes unchanged)."""
    table: dict[int, int] = {}
    for inp, out in pairs:
        if inp.shape != out.shape:
            return None
        for colour, mask in objects(inp):
            new = np.unique(out[mask])
            if len(new) != 1:
                return None
            size = int(mask.sum())
            if int(new[0]) != colour and table.setdefault(size, int(new[0])) != int(new[0]):
                return None
    params = ("sizes", tuple(sorted(table.items())))
    return params if table and all(np.array_equal(_recolour(i, params), o) for i, o in pairs) else None


# --- the catalogue -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """One primitive family: how it applies, how a task draws its parameters, what the ambiguity check tries.

    `style` names the input grids it needs (arc_inputs.py); `resizes` marks output sizes that differ from
    the input's (applied last in a rule, at most one per rule); `shrink(params)` divides the largest
    input side so that the output still fits (scale 3: a 10x10 output from at most 3x3).
    """

    name: str
    apply: Callable[[Grid, Params], Grid | None]
    sample: Callable[[np.random.Generator, tuple[int, ...]], Params]
    label: Callable[[Params], str]
    probes: tuple[Params, ...]
    style: str
    fit: Callable[[list[tuple[Grid, Grid]]], Params | None] | None = None
    resizes: bool = False
    shrink: Callable[[Params], tuple[int, int]] = lambda p: (1, 1)


def _pick(options: tuple) -> Callable[[np.random.Generator, tuple[int, ...]], Params]:
    return lambda rng, palette: options[int(rng.integers(len(options)))]


def _pick_outside_palette(make: Callable[[int], Params]) -> Callable[[np.random.Generator, tuple[int, ...]], Params]:
    return lambda rng, palette: make(int(rng.choice([c for c in COLOURS if c not in palette])))


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("rotate", _rotate, _pick(((1,), (2,), (3,))), lambda p: f"rot{90 * p[0]}", ((1,), (2,), (3,)), "noise"),
    Family("reflect", _reflect, _pick(tuple((k,) for k in REFLECTIONS)), lambda p: p[0],
           tuple((k,) for k in REFLECTIONS), "noise"),
    Family("colour_map", _colour_map, _sample_colour_map, lambda p: f"colour_map{{{_mapping(p)}}}", (), "noise",
           fit=fit_colour_map),
    Family("translate", _translate, _pick(TRANSLATIONS), lambda p: f"translate{{{p[0]:+d},{p[1]:+d},{p[2]}}}",
           TRANSLATIONS, "noise"),
    Family("gravity", _gravity, _pick(tuple((d,) for d in DIRECTIONS)), lambda p: f"gravity{{{p[0]}}}",
           tuple((d,) for d in DIRECTIONS), "sparse"),
    Family("fill_enclosed", _fill_enclosed, _pick_outside_palette(lambda c: (c,)), lambda p: f"fill_enclosed{{{p[0]}}}",
           tuple((c,) for c in COLOURS), "boxes"),
    Family("recolour_by_size", _recolour, _sample_recolour, _recolour_label,
           tuple((m, c) for m in ("largest", "smallest") for c in COLOURS), "objects", fit=fit_recolour_sizes),
    Family("filter_objects", _filter, _pick((("remove", 1), ("remove", 2), ("keep_largest",))),
           lambda p: "keep_largest" if p[0] == "keep_largest" else f"remove_objects{{size<={p[1]}}}",
           (("remove", 1), ("remove", 2), ("keep_largest",)), "objects"),
    Family("crop_to_object", _crop, _pick((("all",), ("largest",))), lambda p: f"crop{{{p[0]}}}",
           (("all",), ("largest",)), "objects", resizes=True),
    Family("scale", _scale, _pick(((2,), (3,))), lambda p: f"scale{{{p[0]}}}", ((2,), (3,)), "noise", resizes=True,
           shrink=lambda p: (p[0], p[0])),
    Family("tile", _tile, _pick(((1, 2), (2, 1), (2, 2))), lambda p: f"tile{{{p[0]}x{p[1]}}}",
           ((1, 2), (2, 1), (2, 2)), "noise", resizes=True, shrink=lambda p: (p[0], p[1])),
    Family("draw_lines", _lines, _pick(tuple((d,) for d in DIRECTIONS)), lambda p: f"lines{{{p[0]}}}",
           tuple((d,) for d in DIRECTIONS), "pixels"),
)}


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples parameters are made of (so parts read back compare and hash equal)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Part:
    """One primitive with its parameters."""

    family: str
    params: Params

    def apply(self, grid: Grid) -> Grid | None:
        return FAMILIES[self.family].apply(grid, self.params)

    @property
    def signature(self) -> str:
        return FAMILIES[self.family].label(self.params)

    def to_json(self) -> dict[str, Any]:
        return {"family": self.family, "params": self.params}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Part":
        return cls(data["family"], _tuples(data["params"]))


@dataclass(frozen=True)
class Rule:
    """Parts applied first to last; the signature writes them in function order (last applied leftmost)."""

    parts: tuple[Part, ...]

    def apply(self, grid: Grid) -> Grid | None:
        for part in self.parts:
            grid = part.apply(grid)
            if grid is None:
                return None
        return np.ascontiguousarray(grid, dtype=np.uint8)

    @property
    def signature(self) -> str:
        return "∘".join(p.signature for p in reversed(self.parts))

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(p.family for p in self.parts)

    @property
    def family_signature(self) -> str:
        return "∘".join(reversed(self.families))

    def without(self, index: int) -> "Rule":
        return Rule(self.parts[:index] + self.parts[index + 1:])

    def to_json(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in self.parts]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> "Rule":
        return cls(tuple(Part.from_json(p) for p in data))


def probe_rules() -> list[Rule]:
    """Every enumerated single part: the alternatives a task's demonstrations must rule out."""
    return [Rule((Part(f.name, p),)) for f in FAMILIES.values() for p in f.probes]


def fitted_rules(pairs: list[tuple[Grid, Grid]]) -> list[Rule]:
    """Single parts whose parameters are read off the pairs (colour maps, size tables)."""
    found = []
    for family in FAMILIES.values():
        if family.fit is not None:
            params = family.fit(pairs)
            if params is not None:
                found.append(Rule((Part(family.name, params),)))
    return found
