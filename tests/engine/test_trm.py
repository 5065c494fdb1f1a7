"""TRM (engine/models/trm.py) with real MLX numerics on tiny configs: shapes, where the gradient flows,
halting from q_halt alone, the EMA, learning, checkpoints and the CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from hrm_engine.act import act_step, evaluate_batch, initial_carry, reset_halted, segment_step
from hrm_engine.config import resolve_config
from hrm_engine.training.ema import EMA, ema_update
from hrm_engine.losses import act_loss
from hrm_engine.models.base import count_parameters
from hrm_engine.models.build import arch_family, new_model, uses_ema
from hrm_engine.models.trm import TRM, TRMConfig

TINY = ["arch.hidden_size=32", "arch.num_heads=2", "global_batch_size=16", "log_interval=1",
        "lr_warmup_steps=2", "arch.halt_max_steps=3", "compile=false"]


def tiny(**kw) -> TRMConfig:
    args = dict(seq_len=8, vocab_size=5, num_puzzle_identifiers=3, hidden_size=32, num_heads=2, L_layers=2,
                H_cycles=3, L_cycles=2, halt_max_steps=3, puzzle_emb_len=2, forward_dtype="float32")
    return TRMConfig(**{**args, **kw})


def batch(cfg: TRMConfig, B: int = 4, seed: int = 0) -> dict[str, mx.array]:
    rng = np.random.default_rng(seed)
    return {"inputs": mx.array(rng.integers(0, cfg.vocab_size, (B, cfg.seq_len)).astype(np.int32)),
            "labels": mx.array(rng.integers(0, cfg.vocab_size, (B, cfg.seq_len)).astype(np.int32)),
            "puzzle_identifiers": mx.array(rng.integers(0, cfg.num_puzzle_identifiers, B).astype(np.int32))}


def test_parameter_counts_match_trm():
    """TRM's own code counts 5,028,866 (mlp_t) and 6,828,034 (attention) for Sudoku; H_layers is ignored."""
    meta = SimpleNamespace(seq_len=81, vocab_size=11, num_puzzle_identifiers=1)
    assert count_parameters(new_model(resolve_config("trm-sudoku"), meta)) == 5_028_866
    attention = resolve_config("trm-sudoku", None, ["arch=trm", "arch.H_layers=7"])
    assert count_parameters(new_model(attention, meta)) == 6_828_034


@pytest.mark.parametrize("mlp_t", [True, False])
def test_forward_shapes(mlp_t):
    cfg = tiny(mlp_t=mlp_t, pos_encodings="none" if mlp_t else "rope")
    model = TRM(cfg)
    b = batch(cfg)
    carry, outputs = act_step(model, initial_carry(model, b), b, training=False)
    assert carry["z_H"].shape == (4, 10, 32) and carry["z_L"].shape == (4, 10, 32)
    assert outputs["logits"].shape == (4, 8, 5) and outputs["q_halt_logits"].shape == (4,)
    assert "target_q_continue" not in outputs
    if mlp_t:  # the position mixer has the position count as its width
        assert model.L_level.layers[0].mlp_t.gate_up_proj.weight.shape[1] == 10


def test_puzzle_emb_len_zero_is_ceil_div():
    assert tiny(puzzle_emb_len=0, puzzle_emb_ndim=70).puzzle_emb_len == 3
    assert tiny(puzzle_emb_len=None).puzzle_emb_len == 16


def test_gradient_flows_through_the_last_cycle_only():
    """The embeddings' gradient is the same whatever the carry before the last cycle: no gradient reaches the
    first H_cycles - 1 cycles; the incoming state gets no gradient at all; every L call of the last cycle does."""
    cfg = tiny(mlp_t=True, pos_encodings="none")
    model = TRM(cfg)
    b = batch(cfg)
    rows = model.puzzle_emb[b["puzzle_identifiers"]] + 0.1
    z = mx.broadcast_to(model.H_init, (4, cfg.total_len, cfg.hidden_size))

    def loss(z_H, x_rows):
        out = model.segment(z_H, z, b["inputs"], x_rows)
        return out[2].sum() + out[3].sum()

    g_state, g_rows = mx.grad(loss, argnums=(0, 1))(z, rows)
    assert float(mx.abs(g_state).max()) == 0.0  # the carry enters under stop_gradient
    assert float(mx.abs(g_rows).max()) > 0  # x is injected in the last cycle's L calls

    # one cycle with gradient, L_cycles + 1 calls: the same gradient as a model whose first cycles are skipped
    # and whose input state is what those cycles produced
    x = model.input_embeddings(b["inputs"], rows)
    z_H, z_L = model.updates(z, z, x, range((cfg.H_cycles - 1) * (cfg.L_cycles + 1)))  # the first cycles
    short = TRM(tiny(mlp_t=True, pos_encodings="none", H_cycles=1))
    short.update(model.parameters())

    def loss_short(x_rows):
        out = short.segment(z_H, z_L, b["inputs"], x_rows)
        return out[2].sum() + out[3].sum()

    np.testing.assert_allclose(np.array(mx.grad(loss_short)(rows)), np.array(g_rows), rtol=1e-5, atol=1e-6)


def test_halting_from_q_halt_alone():
    cfg = tiny(halt_exploration_prob=0.0)
    model = TRM(cfg)
    model.q_head.bias = mx.array([1.0, 5.0])  # q_halt > 0 but < q_continue: TRM halts, HRM's rule would not
    b = batch(cfg)
    carry = reset_halted(model, initial_carry(model, b), b)
    rows = model.puzzle_emb[carry["puzzle_identifiers"]]
    new, outputs = segment_step(model, carry, rows, training=True, key=mx.random.key(0))
    assert np.all(np.array(new["halted"])) and "target_q_continue" not in outputs
    loss, metrics = act_loss(outputs, new["labels"], new["halted"], new["steps"])
    assert float(metrics["q_continue_loss"]) == 0.0
    model.config = tiny(halt_exploration_prob=0.0, no_ACT_continue=False)  # as HRM: q_halt > q_continue
    new, outputs = segment_step(model, carry, rows, training=True, key=mx.random.key(0))
    assert not np.any(np.array(new["halted"])) and "target_q_continue" in outputs


def test_ema_update_maths():
    cfg = tiny()
    model = TRM(cfg)
    ema = EMA(model, rate=0.9)
    w0 = np.array(model.lm_head.weight)
    model.lm_head.weight = model.lm_head.weight + 1.0
    ema.update(model)
    np.testing.assert_allclose(np.array(ema.shadow["lm_head.weight"]), w0 + 0.1, rtol=1e-6, atol=1e-6)
    ema.update(model)
    np.testing.assert_allclose(np.array(ema.shadow["lm_head.weight"]), w0 + 0.19, rtol=1e-6, atol=1e-6)
    assert "puzzle_emb" not in ema.shadow and "H_init" not in ema.shadow  # only trainable weights
    with ema.applied(model):
        np.testing.assert_allclose(np.array(model.lm_head.weight), w0 + 0.19, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.array(model.lm_head.weight), w0 + 1.0, rtol=1e-6)
    out = ema_update({"a": mx.array([2.0])}, {"a": mx.array([4.0])}, 0.999)
    assert float(out["a"][0]) == pytest.approx(0.001 * 4 + 0.999 * 2)


def test_arch_names():
    assert arch_family(resolve_config("hrm-tiny")) == "hrm" and arch_family(resolve_config("trm-tiny")) == "trm"
    assert uses_ema(resolve_config("trm-sudoku")) and not uses_ema(resolve_config("hrm-sudoku"))
    assert uses_ema(resolve_config("trm-tiny", None, ["ema=null"]))
    assert uses_ema(resolve_config("hrm-tiny", None, ["ema=true"]))


def test_the_demo_preset_is_trm_tiny_on_a_shorter_schedule():
    demo, tiny = resolve_config("trm-demo"), resolve_config("trm-tiny")
    assert arch_family(demo) == "trm" and demo["arch"] == tiny["arch"] and demo["lr"] == tiny["lr"]
    assert demo["epochs"] < tiny["epochs"] and demo["epochs"] % demo["eval_interval"] == 0


def test_training_reduces_the_loss_and_checkpoints_keep_the_ema(sudoku4, tmp_path):
    from hrm_engine.run.checkpoint import load_checkpoint
    from hrm_engine.train import Trainer, run_training

    config = resolve_config("trm-tiny", None, [*TINY, f"runs_dir={tmp_path}", "lr=3e-3"])
    trainer = Trainer(config, sudoku4)
    assert isinstance(trainer.model, TRM) and trainer.ema is not None
    first = [trainer.step()["lm_loss"] for _ in range(3)]
    later = [trainer.step()["lm_loss"] for _ in range(40)][-3:]
    assert np.mean(later) < 0.8 * np.mean(first)
    trainer.close()

    run_cfg = resolve_config("trm-tiny", None, [*TINY, f"runs_dir={tmp_path}", "max_steps=3", "eval_interval=null"])
    summary = run_training(run_cfg, sudoku4, run_name="r")
    ckpt = tmp_path / "r" / "checkpoints" / "step_0000003"
    assert summary["step"] == 3 and (ckpt / "ema.safetensors").is_file()
    ema = mx.load(str(ckpt / "ema.safetensors"))
    weights = mx.load(str(ckpt / "model.safetensors"))
    assert set(ema) < set(weights) and not np.allclose(np.array(ema["lm_head.weight"]),
                                                       np.array(weights["lm_head.weight"]))
    loaded = load_checkpoint(tmp_path / "r")  # eval and solve run on the averaged weights
    assert isinstance(loaded.model, TRM)
    for name, value in tree_flatten(loaded.model.trainable_parameters()):
        np.testing.assert_array_equal(np.array(value), np.array(ema[name]), err_msg=name)
    resumed = Trainer(run_cfg, sudoku4)
    resumed.restore(ckpt)
    for name, value in resumed.ema.shadow.items():
        np.testing.assert_array_equal(np.array(value), np.array(ema[name]), err_msg=name)
    _, outputs = evaluate_batch(loaded.model, {k: mx.array(v) for k, v in resumed.sampler.next_batch().items()})
    assert outputs["logits"].shape[-1] == loaded.metadata.vocab_size


def test_task_row_noise_perturbs_the_segment_and_the_rows_still_learn(sudoku4, tmp_path):
    """puzzle_emb_noise: the same weights, batch and key give another loss, and the rows are still updated."""
    from hrm_engine.train import Trainer

    base = [*TINY, f"runs_dir={tmp_path}", "puzzle_emb_lr=0.1"]
    plain, noisy = (Trainer(resolve_config("trm-tiny", None, [*base, f"puzzle_emb_noise={n}"]), sudoku4)
                    for n in (0, 0.5))
    np.testing.assert_array_equal(np.array(plain.model.lm_head.weight), np.array(noisy.model.lm_head.weight))
    assert plain.step()["lm_loss"] != pytest.approx(noisy.step()["lm_loss"], abs=1e-6)
    moved = [np.abs(np.array(t.model.puzzle_emb)).max() for t in (plain, noisy)]
    assert moved[0] > 0 and moved[1] == pytest.approx(moved[0])  # one sign-SGD step from the zero rows, both
    for trainer in (plain, noisy):
        trainer.close()


def test_cli_trains_trm_tiny(sudoku4, tmp_path, run_hrm):
    out = run_hrm("train", str(sudoku4), "--config", "trm-tiny", "max_steps=2", "eval_interval=null",
                  "global_batch_size=16", f"runs_dir={tmp_path}", "--run-name", "cli", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["status"] == "finished" and summary["step"] == 2 and summary["parameters"] == 125_314
    ev = run_hrm("eval", str(tmp_path / "cli"), "--data", str(sudoku4), "--json")
    assert ev.returncode == 0, ev.stderr
    out = run_hrm("solve", str(tmp_path / "cli"), "--puzzle", "1..4.3...1..2..3", "--json")
    assert out.returncode == 0, out.stderr
    sol = json.loads(out.stdout)["solutions"][0]
    assert sol["kind"] == "sudoku" and sol["steps_run"] == 4 and len(sol["grid"]) == 4


@pytest.mark.parametrize("mlp_t", [False, True])
def test_cpu_stream_shards_give_the_unsplit_results_and_gradients(mlp_t):
    """TRM's segment over batch shards on 2 and 3 CPU streams: the outputs and gradients of one stream."""
    from mlx.utils import tree_flatten

    from hrm_engine.cpu.streams import Shards
    from hrm_engine.models.build import model_from_args

    mx.random.seed(1)
    cfg = tiny(mlp_t=mlp_t, pos_encodings="none" if mlp_t else "rope")
    model = model_from_args(cfg, {"cpu_streams": 1})
    B, T, D = 5, cfg.total_len, cfg.hidden_size  # 5 rows: uneven shards
    zH, zL = mx.random.normal((B, T, D)), mx.random.normal((B, T, D))
    inputs = mx.random.randint(0, cfg.vocab_size, (B, cfg.seq_len))
    rows = mx.random.normal((B, cfg.puzzle_emb_ndim or D))

    def loss(params, n):
        model.update(params)
        model.shards = Shards.for_setting(n)
        _, _, logits, qh, _ = model.segment(zH, zL, inputs, rows)
        return (logits ** 2).mean() + qh.sum(), (logits, qh)

    grad = mx.value_and_grad(loss)
    params = model.trainable_parameters()
    (_, (lg1, q1)), g1 = grad(params, 1)
    assert model.shards.streams == ()
    for n in (2, 3):
        (_, (lgn, qn)), gn = grad(params, n)
        assert len(model.shards.streams) == n
        np.testing.assert_allclose(np.array(lgn), np.array(lg1), rtol=1e-4, atol=1e-4)  # BLAS blocking
        np.testing.assert_allclose(np.array(qn), np.array(q1), rtol=1e-4, atol=1e-4)
        for (k, a), (_, b) in zip(tree_flatten(g1), tree_flatten(gn)):
            np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-3, atol=1e-5, err_msg=k)
