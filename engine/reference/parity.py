"""Numerical parity with the reference: run our engine on a fixture made by tools/make_parity_fixture.py.

A fixture directory holds the reference's config.json, weights.safetensors (reference names),
batch.npz, and what the reference computed: eval.npz (every eval segment from the initial carry),
train.npz (two training segments through the loss head, exploration off) and grads1.safetensors
(gradients of the first training loss, plus the puzzle-embedding rows' `local_weights`).

Each quantity is compared as max |ours - ref| and that divided by max |ref| (a scale-relative error:
element-wise ratios blow up where the reference is near zero). Discrete quantities (halted, steps,
counts) must match exactly. See docs/parity.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hrm_engine.errors import EngineError

FIXTURE_FILES = ("config.json", "weights.safetensors", "batch.npz", "eval.npz", "train.npz", "grads1.safetensors")
DEFAULT_TOLERANCES = {"logits": 1e-4, "q": 1e-4, "state": 1e-4, "loss": 1e-3, "grad": 1e-3, "exact": 0.0}
EXACT_METRICS = ("count", "exact_accuracy", "q_halt_accuracy", "steps")
LOCAL_WEIGHTS = "model.inner.puzzle_emb.local_weights"


@dataclass
class Comparison:
    """One compared quantity."""

    name: str
    kind: str
    max_abs: float
    max_rel: float
    tolerance: float
    passed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "max_abs": _finite(self.max_abs), "max_rel": _finite(self.max_rel),
                "tolerance": self.tolerance, "passed": self.passed, "note": self.note}


def _finite(x: float) -> float | str:
    return x if np.isfinite(x) else str(x)


@dataclass
class ParityReport:
    fixture: Path
    config: dict[str, Any]
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)

    def grouped(self) -> list[Comparison]:
        """One row per quantity: segments (`logits_0`, `logits_1`, ...) and gradient tensors folded together."""
        groups: dict[str, list[Comparison]] = {}
        for c in self.comparisons:
            key = "train grads" if c.kind == "grad" else re.sub(r"_\d+$", "", c.name)
            groups.setdefault(key, []).append(c)
        rows = []
        for key, items in groups.items():
            worst = max(items, key=lambda c: (not c.passed, c.max_rel if np.isfinite(c.max_rel) else np.inf))
            note = worst.note
            if len(items) > 1 and worst.max_abs == 0 and worst.passed:
                note = f"{len(items)} compared, all equal"
            elif len(items) > 1:
                short = worst.name.split(" ", 1)[-1].removeprefix("model.inner.")
                note = f"worst of {len(items)}: {short}" + (f" ({worst.note})" if worst.note else "")
            rows.append(Comparison(key, items[0].kind, max(c.max_abs for c in items), max(c.max_rel for c in items),
                                   items[0].tolerance, all(c.passed for c in items), note))
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"fixture": str(self.fixture), "passed": self.passed, "config": self.config,
                "quantities": [c.to_dict() for c in self.grouped()],
                "comparisons": [c.to_dict() for c in self.comparisons]}


def parse_tolerances(specs: list[str] | None) -> dict[str, float]:
    """`KIND=VALUE` (kinds: logits, q, state, loss, grad, exact) or a bare VALUE for every float kind."""
    tol = dict(DEFAULT_TOLERANCES)
    for spec in specs or []:
        kind, _, value = spec.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise EngineError(f"--tolerance {spec!r}: expected KIND=NUMBER or NUMBER") from None
        if number < 0:
            raise EngineError(f"--tolerance {spec!r} must not be negative")
        if not kind:
            tol.update({k: number for k in tol if k != "exact"})
        elif kind in tol:
            tol[kind] = number
        else:
            raise EngineError(f"--tolerance {spec!r}: unknown kind {kind!r}; use one of {', '.join(tol)}")
    return tol


def compare(name: str, kind: str, ours: Any, ref: Any, tolerance: float) -> Comparison:
    """max abs error, and that over max |ref| (or absolute where the reference is all zero)."""
    a, b = np.atleast_1d(np.asarray(ours, dtype=np.float64)), np.atleast_1d(np.asarray(ref, dtype=np.float64))
    if a.shape != b.shape:
        return Comparison(name, kind, np.inf, np.inf, tolerance, False, f"shape {a.shape}, reference {b.shape}")
    if a.size == 0:
        return Comparison(name, kind, 0.0, 0.0, tolerance, True)
    diff = np.abs(a - b)
    diff[np.isnan(a) & np.isnan(b)] = 0.0
    max_abs = float(np.nan_to_num(diff, nan=np.inf).max())
    scale = float(np.nanmax(np.abs(b))) if np.isfinite(b).any() else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    passed = max_abs == 0 if kind == "exact" else max_rel <= tolerance
    return Comparison(name, kind, max_abs, max_rel, tolerance, passed)


def _missing(name: str, kind: str, tolerance: float, note: str) -> Comparison:
    return Comparison(name, kind, np.inf, np.inf, tolerance, False, note)


@dataclass
class Fixture:
    path: Path
    config: dict[str, Any]
    weights: dict[str, np.ndarray]
    batch: dict[str, np.ndarray]
    eval: dict[str, np.ndarray]
    train: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]


def load_fixture(path: str | Path) -> Fixture:
    """Read and sanity-check a fixture directory (EngineError, exit 2, for anything missing or malformed)."""
    from hrm_engine.reference.convert import read_safetensors

    path = Path(path)
    if not path.is_dir():
        raise EngineError(f"parity fixture {path} is not a directory")
    absent = [f for f in FIXTURE_FILES if not (path / f).is_file()]
    if absent:
        raise EngineError(f"parity fixture {path} lacks {', '.join(absent)}; make one with tools/make_parity_fixture.py")
    try:
        config = json.loads((path / "config.json").read_text())
        npz = {}
        for name in ("batch", "eval", "train"):
            with np.load(path / f"{name}.npz", allow_pickle=False) as data:
                npz[name] = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise EngineError(f"parity fixture {path} is damaged: {exc}") from None
    if not isinstance(config, dict):
        raise EngineError(f"{path}/config.json must be a JSON object (the reference model config)")
    for key in ("inputs", "labels", "puzzle_identifiers"):
        if key not in npz["batch"]:
            raise EngineError(f"{path}/batch.npz lacks {key}")
    return Fixture(path, config, read_safetensors(path / "weights.safetensors"), npz["batch"], npz["eval"],
                   npz["train"], read_safetensors(path / "grads1.safetensors"))


def build_model(fixture: Fixture):
    """Our HRM (or TRM, for a fixture recorded from TinyRecursiveModels) with the fixture's config and weights."""
    from hrm_engine.models.build import model_from_args
    from hrm_engine.reference.convert import load_reference_weights, model_config

    cfg = fixture.config
    batch = fixture.batch
    try:
        mcfg = model_config(cfg, seq_len=cfg.get("seq_len", batch["inputs"].shape[1]),
                            vocab_size=cfg["vocab_size"], num_puzzle_identifiers=cfg["num_puzzle_identifiers"],
                            forward_dtype=str(cfg.get("forward_dtype", "float32")))
    except KeyError as exc:
        raise EngineError(f"{fixture.path}/config.json lacks {exc.args[0]}") from None
    model = model_from_args(mcfg, {"cpu_streams": 1})  # the kernels training and evaluation use, on one stream
    load_reference_weights(model, fixture.weights, source=f"{fixture.path}/weights.safetensors")
    return model


def run_parity(path: str | Path, tolerances: dict[str, float] | None = None) -> ParityReport:
    """Run our engine on the fixture and compare every quantity it holds."""
    import mlx.core as mx

    tol = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    fixture = load_fixture(path)
    model = build_model(fixture)
    batch = {k: mx.array(v.astype(np.int32)) for k, v in fixture.batch.items()}
    report = ParityReport(fixture.path, fixture.config)
    report.comparisons += _eval_comparisons(model, batch, fixture.eval, tol)
    report.comparisons += _train_comparisons(model, batch, fixture, tol)
    return report


def _eval_comparisons(model, batch, ref: dict[str, np.ndarray], tol: dict[str, float]) -> list[Comparison]:
    import mlx.core as mx

    from hrm_engine.act import rollout

    out: list[Comparison] = []

    def seen(segment: int, carry: dict, outputs: dict) -> None:  # the rollout evaluation and solving use
        s = segment - 1
        ours = {f"logits_{s}": (outputs["logits"], "logits"), f"q_halt_{s}": (outputs["q_halt_logits"], "q"),
                f"q_continue_{s}": (outputs["q_continue_logits"], "q"), f"halted_{s}": (carry["halted"], "exact")}
        for name, (value, kind) in ours.items():
            if name not in ref:
                out.append(_missing(f"eval {name}", kind, tol[kind], "not in eval.npz"))
                continue
            out.append(compare(f"eval {name}", kind, np.array(value.astype(mx.float32)), ref[name], tol[kind]))

    carry, _ = rollout(model, batch, model.config.halt_max_steps, on_segment=seen)
    for name in ("z_H", "z_L"):
        if name in ref:
            out.append(compare(f"eval {name}", "state", np.array(carry[name].astype(mx.float32)), ref[name],
                               tol["state"]))
        else:
            out.append(_missing(f"eval {name}", "state", tol["state"], "not in eval.npz"))
    produced = {c.name.removeprefix("eval ") for c in out}
    extra = sorted(k for k in ref if k not in produced)
    for name in extra:
        out.append(_missing(f"eval {name}", "exact", 0.0, "in eval.npz but not produced (halt_max_steps differs?)"))
    return out


def _metric_kind(name: str) -> str:
    return "exact" if name in EXACT_METRICS else "loss"


def _train_comparisons(model, batch, fixture: Fixture, tol: dict[str, float]) -> list[Comparison]:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from hrm_engine.act import act_step, initial_carry, reset_halted, segment_step
    from hrm_engine.losses import act_loss
    from hrm_engine.reference.convert import reference_name

    ref = fixture.train
    cfg = model.config
    saved_cfg = cfg
    model.config = replace(cfg, halt_exploration_prob=0.0)  # the fixture's training segments run without exploration
    try:
        key = mx.random.key(0)
        carry = reset_halted(model, initial_carry(model, batch), batch)
        rows = model.puzzle_emb[carry["puzzle_identifiers"]]

        def loss_fn(params, rows):
            model.update(params)
            new_carry, outputs = segment_step(model, carry, rows, training=True, key=key)
            loss, metrics = act_loss(outputs, new_carry["labels"], new_carry["halted"], new_carry["steps"], cfg.loss)
            return loss, (new_carry, metrics)

        params = model.trainable_parameters()
        (loss0, (carry0, metrics0)), (grads, row_grads) = mx.value_and_grad(loss_fn, argnums=(0, 1))(params, rows)
        model.update(params)
        mx.eval(loss0, carry0, metrics0, grads, row_grads)
        carry1, outputs1 = act_step(model, carry0, batch, training=True, key=mx.random.key(1))
        loss1, metrics1 = act_loss(outputs1, carry1["labels"], carry1["halted"], carry1["steps"], cfg.loss)
        mx.eval(loss1, metrics1, carry1)
    finally:
        model.config = saved_cfg

    out: list[Comparison] = []
    for s, (loss, metrics, c) in enumerate(((loss0, metrics0, carry0), (loss1, metrics1, carry1))):
        ours = {f"loss_{s}": (loss, "loss"), f"halted_{s}": (c["halted"], "exact"), f"steps_{s}": (c["steps"], "exact")}
        ref_metrics = sorted(k for k in ref if k.startswith("metric_") and k.endswith(f"_{s}"))
        for name in ref_metrics:
            metric = name[len("metric_"):-len(f"_{s}")]
            ours[name] = (metrics.get(metric), _metric_kind(metric))
        for name, (value, kind) in ours.items():
            if name not in ref:
                out.append(_missing(f"train {name}", kind, tol[kind], "not in train.npz"))
            elif value is None:
                out.append(_missing(f"train {name}", kind, tol[kind], "our act_loss has no such metric"))
            else:
                out.append(compare(f"train {name}", kind, np.array(value.astype(mx.float32)), ref[name], tol[kind]))

    ours_grads = {reference_name(k): v for k, v in tree_flatten(grads)}
    ours_grads[LOCAL_WEIGHTS] = row_grads
    for name in sorted(set(ours_grads) | set(fixture.grads)):
        if name not in fixture.grads:
            out.append(_missing(f"grad {name}", "grad", tol["grad"], "not in grads1.safetensors"))
        elif name not in ours_grads:
            out.append(_missing(f"grad {name}", "grad", tol["grad"], "no such parameter in our model"))
        else:
            out.append(compare(f"grad {name}", "grad", np.array(ours_grads[name].astype(mx.float32)),
                               fixture.grads[name], tol["grad"]))
    return out
