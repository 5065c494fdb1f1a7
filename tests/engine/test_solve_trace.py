"""The per-segment trace re-runs the model's cycles: same logits, same final answer as `hrm solve`."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import mlx.core as mx
import numpy as np
import pytest

from hrm_engine.act import initial_carry, reset_halted, segment_step
from hrm_engine.run.checkpoint import Loaded
from hrm_engine.models.build import model_from_args
from hrm_engine.models.hrm import HRM, ModelConfig
from hrm_engine.solve import run_model
from hrm_engine.solving.solve_trace import halt_step_of, trace_model, trace_text, traced_segment


def _loaded(H_cycles=2, L_cycles=3, halt_max_steps=3, streams: int = 1) -> Loaded:
    mx.random.seed(3)
    meta = SimpleNamespace(seq_len=16, vocab_size=6, num_puzzle_identifiers=2)
    arch = dict(hidden_size=32, num_heads=2, H_layers=1, L_layers=1, H_cycles=H_cycles, L_cycles=L_cycles,
                halt_max_steps=halt_max_steps)
    model = model_from_args(ModelConfig.from_config({"arch": arch}, meta, forward_dtype="float32"),
                            {"cpu_streams": streams})
    model.q_head.weight = mx.random.normal((2, 32)) * 0.3  # a halting head that says something
    return Loaded(model=model, config={}, metadata=meta, build_info={"kind": "sudoku", "box": [2, 2]}, step=0,
                  path=Path("."))


@pytest.mark.parametrize("streams", [1, 2])
def test_traced_segment_equals_the_model_segment(streams):
    loaded = _loaded(streams=streams)
    model = loaded.model
    inputs = mx.array(np.random.default_rng(0).integers(1, 6, (3, 16)).astype(np.int32))
    batch = {"inputs": inputs, "labels": mx.zeros_like(inputs), "puzzle_identifiers": mx.array([0, 1, 0])}
    carry = reset_halted(model, initial_carry(model, batch), batch)
    rows = model.puzzle_emb[carry["puzzle_identifiers"]]
    z_H, z_L = carry["z_H"], carry["z_L"]
    for _ in range(2):  # from H_init/L_init, then from a carried state
        ref, _out = segment_step(model, carry, rows, training=False)
        mine = traced_segment(model, z_H, z_L, carry["inputs"], rows)
        expected = model.segment(carry["z_H"], carry["z_L"], carry["inputs"], rows)
        for a, b in zip(mine[:5], expected):
            assert np.array_equal(np.array(a), np.array(b))
        assert mine[5].shape == (3, 2, 3) and mine[6].shape == (3, 2)
        assert np.all(np.array(mine[5]) > 0) and np.all(np.array(mine[6]) > 0)
        carry, z_H, z_L = ref, mine[0], mine[1]


def test_residual_norm_by_hand():
    """The first L residual of segment 1 is ||L(L_init, H_init + x) - L_init||."""
    loaded = _loaded(H_cycles=1, L_cycles=1, halt_max_steps=1)
    model = loaded.model
    inputs = np.array([[1] * 16])
    trace = trace_model(loaded, inputs)[0]
    x = model.input_embeddings(mx.array(inputs.astype(np.int32)), model.puzzle_emb[mx.array([0])])
    z_H = mx.broadcast_to(model.H_init, x.shape)
    z_L = mx.broadcast_to(model.L_init, x.shape)
    new_L = model.L_level(z_L, z_H + x)
    assert np.isclose(trace.segments[0].residual_L[0][0], float(mx.sqrt(mx.sum((new_L - z_L) ** 2))), rtol=1e-5)
    new_H = model.H_level(z_H, new_L)
    assert np.isclose(trace.segments[0].residual_H[0], float(mx.sqrt(mx.sum((new_H - z_H) ** 2))), rtol=1e-5)


def test_trace_final_answer_equals_solve():
    loaded = _loaded()
    inputs = np.random.default_rng(1).integers(1, 6, (4, 16)).astype(np.int64)
    solved = run_model(loaded, inputs)
    traces = trace_model(loaded, inputs)
    for sol, tr in zip(solved, traces):
        assert len(tr.segments) == 3 and [s.segment for s in tr.segments] == [1, 2, 3]
        assert np.array_equal(tr.solution.prediction, sol.prediction)
        assert tr.solution.halt_step == sol.halt_step and tr.solution.q_halt_prob == pytest.approx(sol.q_halt_prob)
        assert np.array_equal(tr.segments[0].changed, tr.segments[0].prediction != tr.solution.inputs)
        for prev, seg in zip(tr.segments, tr.segments[1:]):
            assert np.array_equal(seg.changed, seg.prediction != prev.prediction)
        last = tr.segments[-1]
        assert (last.halt_confidence > 0.5) == last.wants_halt and 0 < last.halt_confidence < 1


def test_more_segments_than_training_and_the_halt_rule():
    loaded = _loaded(halt_max_steps=2)
    traces = trace_model(loaded, np.ones((1, 16), np.int64), segments=5)
    assert len(traces[0].segments) == 5 and traces[0].solution.steps_run == 5
    assert halt_step_of([False, True, True], 3) == 2
    assert halt_step_of([False, False, True], 3) == 3  # the last segment halts anyway
    assert halt_step_of([True, True], 1) == 1


def test_trace_text_reports_like_solve():
    loaded = _loaded()
    traces = trace_text(loaded, "1..4.3...1..2..3")
    sol = traces[0].solution
    assert sol.kind == "sudoku" and set(sol.extra) >= {"solved", "grid", "valid_solution"}
    seg = traces[0].to_json()["segments"][0]
    assert len(seg["answer"]) == 4 and len(seg["residuals"]["z_L"]) == 2 and len(seg["residuals"]["z_L"][0]) == 3


def test_trace_an_arc_task():
    mx.random.seed(0)
    meta = SimpleNamespace(seq_len=900, vocab_size=12, num_puzzle_identifiers=1)
    arch = dict(hidden_size=16, num_heads=2, H_layers=1, L_layers=1, H_cycles=1, L_cycles=1, halt_max_steps=2)
    model = HRM(ModelConfig.from_config({"arch": arch}, meta, forward_dtype="float32"))
    loaded = Loaded(model=model, config={}, metadata=meta, build_info={"kind": "arc"}, step=0, path=Path("."))
    task = '{"train": [], "test": [{"input": [[1, 2], [3, 4]], "output": [[4, 3], [2, 1]]}]}'
    traces = trace_text(loaded, task)
    assert len(traces) == 1 and len(traces[0].segments) == 2
    sol = traces[0].solution
    assert sol.kind == "arc" and "output" in sol.extra and sol.extra["correct"] in (True, False)
    assert isinstance(traces[0].to_json()["segments"][1]["answer"], list)


@pytest.mark.parametrize("mlp_t", [False, True])
def test_trm_trace_equals_its_segment_and_halts_on_q_halt(mlp_t):
    from hrm_engine.models.trm import TRM, TRMConfig

    mx.random.seed(5)
    meta = SimpleNamespace(seq_len=16, vocab_size=6, num_puzzle_identifiers=1)
    arch = dict(hidden_size=32, num_heads=2, L_layers=1, H_cycles=3, L_cycles=2, halt_max_steps=3, puzzle_emb_len=2,
                mlp_t=mlp_t)
    model = TRM(TRMConfig.from_config({"arch": arch}, meta, forward_dtype="float32"))
    model.q_head.weight = mx.random.normal((2, 32)) * 0.3
    loaded = Loaded(model=model, config={}, metadata=meta, build_info={"kind": "sudoku"}, step=0, path=Path("."))
    inputs = np.random.default_rng(2).integers(1, 6, (2, 16)).astype(np.int64)
    batch = {"inputs": mx.array(inputs.astype(np.int32)), "labels": mx.zeros((2, 16), mx.int32),
             "puzzle_identifiers": mx.array([0, 0])}
    carry = reset_halted(model, initial_carry(model, batch), batch)
    rows = model.puzzle_emb[carry["puzzle_identifiers"]]
    mine = traced_segment(model, carry["z_H"], carry["z_L"], carry["inputs"], rows)
    for a, b in zip(mine[:5], model.segment(carry["z_H"], carry["z_L"], carry["inputs"], rows)):
        assert np.array_equal(np.array(a), np.array(b))
    assert mine[5].shape == (2, 3, 2) and mine[6].shape == (2, 3)
    traces = trace_model(loaded, inputs)
    solved = run_model(loaded, inputs)
    for tr, sol in zip(traces, solved):
        assert np.array_equal(tr.solution.prediction, sol.prediction) and tr.solution.halt_step == sol.halt_step
        seg = tr.segments[-1]
        assert seg.q_halt_only and seg.wants_halt == (seg.q_halt > 0)
        assert seg.halt_confidence == pytest.approx(1 / (1 + np.exp(-seg.q_halt)))
