"""`optimizer: muon`: Muon on the recurrent blocks' matrices, Adam-atan2 on the rest; off by default."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest
from mlx.optimizers import MultiOptimizer
from mlx.utils import tree_flatten
from tiny_runs import StopAt

from hrm_engine.config import resolve_config
from hrm_engine.config_ranges import resolve_train_config
from hrm_engine.errors import ConfigError
from hrm_engine.optim import AdamAtan2, Muon, is_block_matrix, orthogonalize
from hrm_engine.run.checkpoint import list_checkpoints
from hrm_engine.train import Trainer, TrainingInterrupted, run_training

TINY = ["arch.hidden_size=32", "arch.num_heads=2", "global_batch_size=16", "log_interval=1", "lr_warmup_steps=2",
        "arch.halt_max_steps=3", "prefetch_batches=0", "eval_interval=null"]


def cfg(tmp_path, *extra):
    return resolve_config("trm-tiny", None, [*TINY, f"runs_dir={tmp_path}", *extra])


@pytest.mark.parametrize("shape", [(48, 12), (12, 48), (20, 20)])
def test_orthogonalize_flattens_the_spectrum_and_scales_tall_matrices(shape):
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(shape[0], shape[0])))
    v, _ = np.linalg.qr(rng.normal(size=(shape[1], shape[1])))
    k = min(shape)
    g = (u[:, :k] * np.geomspace(0.3, 3.0, k)) @ v[:, :k].T  # singular values spread 10x
    s = np.linalg.svd(np.array(orthogonalize(mx.array(g.astype(np.float32)))), compute_uv=False)
    scale = max(1.0, shape[0] / shape[1]) ** 0.5
    # the quintic iteration maps every singular value into about [0.7, 1.2], not exactly to 1 (by design)
    assert s.min() / scale > 0.6 and s.max() / scale < 1.25, s


def test_one_muon_step_by_formula():
    p = mx.array(np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32))
    g = mx.array(np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32))
    opt = Muon(0.1, momentum=0.9, weight_decay=0.5)
    opt.init({"w": p})
    out = opt.apply_gradients({"w": g}, {"w": p})["w"]
    m = g  # 0.9 * 0 + g
    want = np.array(p) * (1 - 0.1 * 0.5) - 0.1 * np.array(orthogonalize(g + 0.9 * m))
    assert np.allclose(np.array(out), want, atol=1e-6) and np.allclose(np.array(opt.state["w"]["m"]), np.array(g))
    second = opt.apply_gradients({"w": g}, {"w": out})["w"]  # momentum 0.9 * g + g, then Nesterov's look-ahead
    want2 = np.array(out) * (1 - 0.1 * 0.5) - 0.1 * np.array(orthogonalize(g + 0.9 * (1.9 * g)))
    assert np.allclose(np.array(second), want2, atol=1e-6)


def test_muon_takes_the_block_matrices_and_adam_the_rest(sudoku4, tmp_path):
    trainer = Trainer(cfg(tmp_path, "optimizer=muon"), sudoku4)
    assert isinstance(trainer.optimizer, MultiOptimizer)
    muon, adam = trainer.optimizer.optimizers
    assert isinstance(muon, Muon) and isinstance(adam, AdamAtan2)
    params = dict(tree_flatten(trainer.model.trainable_parameters()))
    routed = {k for k, v in params.items() if is_block_matrix(k, v)}
    assert routed and all(k.startswith(("L_level.", "H_level.")) and params[k].ndim == 2 for k in routed)
    assert {"embed_tokens.weight", "lm_head.weight", "q_head.weight", "q_head.bias"}.isdisjoint(routed)
    assert isinstance(Trainer(cfg(tmp_path), sudoku4).optimizer, AdamAtan2)  # the references' optimizer by default


def test_muon_learns_and_resumes_to_the_same_losses(sudoku4, tmp_path):
    base = cfg(tmp_path, "optimizer=muon", "muon_lr=0.02", "max_steps=8")
    run_training(base, sudoku4, run_name="full")
    with pytest.raises(TrainingInterrupted):
        run_training(base, sudoku4, run_name="split", observer=StopAt(4))
    run_training(base, sudoku4, resume=tmp_path / "split")

    def losses(name):
        lines = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return [r["lm_loss"] for r in lines if r["type"] == "train"]

    full = losses("full")
    assert len(full) == 8 and np.all(np.isfinite(full)) and full[-1] < full[0]
    assert np.allclose(full, losses("split"), rtol=1e-5, atol=1e-6)  # Muon's momentum came back with the checkpoint
    assert list_checkpoints(tmp_path / "split")


def test_an_unknown_optimizer_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="optimizer"):
        resolve_train_config("trm-tiny", None, [*TINY, f"runs_dir={tmp_path}", "optimizer=sgd"])
