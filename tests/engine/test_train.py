"""Training end to end on tiny data: ACT carry behaviour, exact resume, checkpoints, learning."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from hrm_datasets.build_sudoku import build_sudoku
from hrm_engine.act import act_step, evaluate_batch, initial_carry
from hrm_engine.run.checkpoint import list_checkpoints, load_checkpoint
from hrm_engine.config import resolve_config
from hrm_engine.errors import EngineError
from hrm_engine.train import Trainer, run_training

TINY = ["arch.hidden_size=32", "arch.num_heads=2", "arch.H_layers=1", "arch.L_layers=1", "global_batch_size=16",
        "log_interval=1", "lr_warmup_steps=2", "arch.halt_max_steps=3"]


def cfg(tmp_path, *extra):
    return resolve_config("hrm-tiny", None, [*TINY, f"runs_dir={tmp_path}", *extra])


def test_act_resets_halted_rows_and_keeps_running_ones(sudoku4, tmp_path):
    trainer = Trainer(cfg(tmp_path), sudoku4)
    model = trainer.model
    b1 = {k: mx.array(v) for k, v in trainer.sampler.next_batch().items()}
    b2 = {k: mx.array(v) for k, v in trainer.sampler.next_batch().items()}
    carry = initial_carry(model, b1)
    carry, _ = act_step(model, carry, b1, training=False)
    assert np.all(np.array(carry["steps"]) == 1) and not np.any(np.array(carry["halted"]))
    carry["halted"] = mx.array([True] * 8 + [False] * 8)
    carry, _ = act_step(model, carry, b2, training=False)
    steps = np.array(carry["steps"])
    assert np.all(steps[:8] == 1) and np.all(steps[8:] == 2)  # reset rows restart, others continue
    assert np.array_equal(np.array(carry["inputs"])[:8], np.array(b2["inputs"])[:8])  # reloaded with new rows
    assert np.array_equal(np.array(carry["inputs"])[8:], np.array(b1["inputs"])[8:])  # kept their data
    # eval mode always runs all segments
    final, _ = evaluate_batch(model, b1)
    assert np.all(np.array(final["steps"]) == 3) and np.all(np.array(final["halted"]))


def test_training_halts_at_max_steps_with_exploration(sudoku4, tmp_path):
    trainer = Trainer(cfg(tmp_path), sudoku4)
    for _ in range(4):
        trainer.step()
        steps = np.array(trainer.carry["steps"])
        halted = np.array(trainer.carry["halted"])
        assert steps.max() <= 3 and np.all(halted[steps == 3])


def test_stop_and_resume_gives_the_same_losses(sudoku4, tmp_path):
    full = run_training(cfg(tmp_path, "max_steps=8", "eval_interval=null"), sudoku4, run_name="full")
    part = cfg(tmp_path, "max_steps=8", "eval_interval=null", "checkpoint_interval=4")
    # a run that stops at step 4 (simulated by max_steps=4), then resumes to 8
    run_training({**part, "max_steps": 4}, sudoku4, run_name="split")
    run_training(part, sudoku4, resume=tmp_path / "split")
    lines = lambda name: [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    a = [r["lm_loss"] for r in lines("full") if r["type"] == "train"]
    b = [r["lm_loss"] for r in lines("split") if r["type"] == "train"]
    assert len(a) == len(b) == 8
    assert np.allclose(a, b, rtol=1e-5, atol=1e-6), (a, b)
    assert full["step"] == 8


def test_checkpoint_round_trip(sudoku4, tmp_path):
    summary = run_training(cfg(tmp_path, "max_steps=3", "eval_interval=null"), sudoku4, run_name="rt")
    ckpts = list_checkpoints(tmp_path / "rt")
    assert ckpts and summary["status"] == "finished"
    loaded = load_checkpoint(tmp_path / "rt")
    trainer_model = Trainer(cfg(tmp_path), sudoku4).model
    assert loaded.model.config == trainer_model.config
    assert loaded.step == 3 and loaded.metadata.vocab_size == 6
    with pytest.raises(EngineError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")


def test_resume_refuses_other_data(sudoku4, tmp_path):
    run_training(cfg(tmp_path, "max_steps=1", "eval_interval=null"), sudoku4, run_name="r6")
    other = tmp_path / "s6"
    build_sudoku(other, size=6, difficulty="easy", count=20, test_count=4, seed=0)
    with pytest.raises(EngineError, match="vocab_size"):
        run_training(cfg(tmp_path, "max_steps=2"), other, resume=tmp_path / "r6")


def test_prefetch_thread_changes_nothing_but_speed(sudoku4, tmp_path):
    """Batches read ahead in a thread give the same steps, and checkpoints record the consumed position."""
    inline = Trainer(cfg(tmp_path, "prefetch_batches=0"), sudoku4)
    ahead = Trainer(cfg(tmp_path, "prefetch_batches=3"), sudoku4)
    for _ in range(5):  # 64 examples / 16 = 4 batches per pass: crosses a pass boundary
        a, b = inline.step(), ahead.step()
        assert a == b
    assert ahead.state_dict() == inline.state_dict()  # not the thread's read-ahead position
    assert ahead.sampler.state_dict() != inline.sampler.state_dict()  # the thread did read ahead
    ahead.close()
    assert ahead.sampler.state_dict() == inline.sampler.state_dict()
    assert ahead.step() == inline.step()  # inline again after close, still in step


def test_the_gpu_configuration_trains_here_and_follows_float32(sudoku4, tmp_path):
    """What `auto` picks on a GPU (bfloat16 compute, MLX's own kernels), run on the CPU: the master weights stay
    float32 and the losses follow a float32 run's to bfloat16 precision."""
    losses = {}
    mx.disable_compile()  # eager: a cold CPU JIT would spend minutes compiling bfloat16 kernels for 4 steps
    try:
        for dtype in ("float32", "bfloat16"):
            trainer = Trainer(cfg(tmp_path, f"arch.forward_dtype={dtype}", "cpu_math=builtin"), sudoku4)
            assert trainer.model.config.forward_dtype == dtype
            losses[dtype] = np.array([trainer.step()["lm_loss"] for _ in range(4)])
            assert all(v.dtype == mx.float32 for _, v in tree_flatten(trainer.model.trainable_parameters()))
    finally:
        mx.enable_compile()
    f32, bf16 = losses["float32"], losses["bfloat16"]
    assert np.isfinite(bf16).all() and bf16[-1] < bf16[0]
    np.testing.assert_allclose(bf16, f32, rtol=2e-2)
    assert not np.array_equal(bf16, f32)  # the bfloat16 path really ran


def test_launched_steps_give_the_same_numbers_as_waited_ones(sudoku4, tmp_path):
    """`hrm train` launches each step while the previous one still computes; that must change nothing."""
    waited, launched = Trainer(cfg(tmp_path), sudoku4), Trainer(cfg(tmp_path), sudoku4)
    expected = [waited.step() for _ in range(5)]
    pending = [launched.launch() for _ in range(5)]
    launched.wait()
    got = [{**{k: v.item() for k, v in metrics.items()}, "lr": lr} for metrics, lr in pending]
    assert got == expected
    assert launched.state_dict() == waited.state_dict() and launched.step_count == 5
    for (name, a), (_, b) in zip(tree_flatten(waited.model.parameters()), tree_flatten(launched.model.parameters())):
        assert mx.array_equal(a, b).item(), name
