"""Parity with the reference HRM, reference checkpoints, and the restricted torch unpickler.

Every file used here is committed under tests/fixtures/ (made by tools/make_parity_fixture.py with the
reference's own code); PyTorch is not needed to run these tests.
"""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hrm_paths import REPO
from parity_data import dataset_from_fixture
from hrm_engine.errors import EngineError, HRMError

FIXTURES = REPO / "tests" / "fixtures"
PARITY = sorted(p for p in (FIXTURES / "parity").iterdir() if (p / "config.json").is_file())
PICKLES = FIXTURES / "torch_pickle"
REF_CKPT = FIXTURES / "reference_checkpoint"
SMALL = FIXTURES / "parity" / "h64-prefix2-act1-causal"  # the fixture whose weights reference_checkpoint/step_12 holds


def _fixture_keys(path: Path) -> set[str]:
    keys = set()
    for name in ("eval", "train"):
        with np.load(path / f"{name}.npz") as data:
            keys |= {f"{name} {k}" for k in data.files}
    from hrm_engine.reference.convert import read_safetensors

    keys |= {f"grad {k}" for k in read_safetensors(path / "grads1.safetensors")}
    return keys


def test_fixtures_cover_the_issue():
    """At least three fixtures, small, varying the architecture, one with several puzzle-prefix positions."""
    configs = [json.loads((p / "config.json").read_text()) for p in PARITY]
    assert len(PARITY) >= 3
    assert len({c["hidden_size"] for c in configs}) >= 2 and len({c["halt_max_steps"] for c in configs}) >= 3
    assert len({(c["H_cycles"], c["L_cycles"]) for c in configs}) >= 3
    assert any(-(-c["puzzle_emb_ndim"] // c["hidden_size"]) > 1 for c in configs)
    assert {"rope", "learned"} <= {c["pos_encodings"] for c in configs}
    for path in PARITY:
        assert sorted(f.name for f in path.iterdir()) == sorted(
            ["config.json", "weights.safetensors", "batch.npz", "eval.npz", "train.npz", "grads1.safetensors"])
        assert sum(f.stat().st_size for f in path.iterdir()) < 4_000_000


# -- parity ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", PARITY, ids=[p.name for p in PARITY])
def test_engine_parity(fixture):
    from hrm_engine.reference.parity import run_parity

    report = run_parity(fixture)
    failed = [(c.name, c.max_rel, c.note) for c in report.comparisons if not c.passed]
    assert report.passed, failed
    compared = {c.name for c in report.comparisons}
    assert compared == _fixture_keys(fixture)  # every stored quantity was compared, nothing invented
    logits = [c for c in report.comparisons if c.kind == "logits"]
    assert len(logits) == report.config["halt_max_steps"] and max(c.max_rel for c in logits) < 1e-4
    assert all(c.max_abs == 0 for c in report.comparisons if c.kind == "exact")


@pytest.mark.parametrize("fixture", PARITY, ids=[p.name for p in PARITY])
def test_cli_parity(fixture, run_hrm):
    out = run_hrm("parity", str(fixture), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert data["passed"] is True
    names = {q["name"] for q in data["quantities"]}
    assert {"eval logits", "eval q_halt", "eval q_continue", "eval z_H", "eval z_L", "train loss", "train halted",
            "train steps", "train grads", "train metric_lm_loss"} <= names


def test_cli_parity_table(run_hrm):
    table = run_hrm("parity", str(SMALL))
    assert table.returncode == 0 and "max rel" in table.stdout and "train grads" in table.stdout
    assert "comparisons within tolerance" in table.stdout


def _write_safetensors(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))


def test_parity_fails_on_a_perturbed_weight(tmp_path, run_hrm):
    """A 1e-3 change to one Q-head bias must show up as failing Q values (exit 1), and only there first."""
    from hrm_engine.reference.convert import read_safetensors

    fixture = tmp_path / "perturbed"
    shutil.copytree(PARITY[0], fixture)
    weights = read_safetensors(fixture / "weights.safetensors")
    weights["model.inner.q_head.bias"] = weights["model.inner.q_head.bias"] + np.float32(1e-2)
    _write_safetensors(fixture / "weights.safetensors", weights)
    out = run_hrm("parity", str(fixture), "--json")
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    failed = {q["name"] for q in data["quantities"] if not q["passed"]}
    assert {"eval q_halt", "eval q_continue"} <= failed
    assert "eval logits" not in failed  # the Q head does not feed back into the logits


def test_parity_detects_a_changed_loss(monkeypatch):
    """Swapping stablemax for softmax cross-entropy in our engine fails the loss rows, not the forward ones."""
    from hrm_engine import losses
    from hrm_engine.reference.parity import run_parity

    monkeypatch.setitem(losses.LOSSES, "stablemax_cross_entropy", losses.softmax_cross_entropy)
    report = run_parity(SMALL)
    failed = {c.name for c in report.comparisons if not c.passed}
    assert "train loss_0" in failed and "train metric_lm_loss_0" in failed
    assert not any(name.startswith("eval") for name in failed)


def test_parity_bad_input(tmp_path, run_hrm):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    out = run_hrm("parity", str(empty))
    assert out.returncode == 2 and "lacks weights.safetensors" in out.stderr and "Traceback" not in out.stderr
    out = run_hrm("parity", str(PARITY[0]), "--tolerance", "bogus=1")
    assert out.returncode == 2 and "unknown kind" in out.stderr


def test_tolerances():
    from hrm_engine.reference.parity import DEFAULT_TOLERANCES, compare, parse_tolerances

    assert parse_tolerances(None) == DEFAULT_TOLERANCES
    tol = parse_tolerances(["1e-3", "grad=1e-2"])
    assert tol["logits"] == 1e-3 and tol["grad"] == 1e-2 and tol["exact"] == 0.0
    with pytest.raises(EngineError):
        parse_tolerances(["logits=-1"])
    c = compare("x", "logits", [1.0, 2.00001], [1.0, 2.0], 1e-4)
    assert c.passed and c.max_abs == pytest.approx(1e-5) and c.max_rel == pytest.approx(5e-6)
    assert not compare("x", "exact", [True, False], [True, True], 0).passed
    assert not compare("x", "grad", np.zeros((2, 3)), np.zeros((3, 2)), 1).passed


# -- the restricted unpickler -----------------------------------------------------------------------------
def test_benign_torch_checkpoint_reads_every_dtype():
    from hrm_engine.reference.torch_pickle import load_torch_state_dict

    state = load_torch_state_dict(PICKLES / "benign.pt")
    with np.load(PICKLES / "benign_expected.npz") as expected:
        assert set(state) == set(expected.files)
        for key in expected.files:
            np.testing.assert_array_equal(state[key], expected[key], err_msg=key)
    assert state["bf16"].dtype == np.float32 and state["f16"].dtype == np.float16
    assert state["i64"].dtype == np.int64 and state["i32"].dtype == np.int32 and state["flag"].dtype == np.bool_
    np.testing.assert_array_equal(state["offset_view"], np.arange(12).reshape(3, 4)[1:, 1:])
    np.testing.assert_array_equal(state["transposed"], np.arange(12).reshape(3, 4).T)


def _globals_in(pickle_bytes: bytes) -> set[str]:
    """Globals a pickle names, found by reading its opcodes (nothing is executed)."""
    names, strings = set(), []
    for op, arg, _ in pickletools.genops(pickle_bytes):
        if op.name == "GLOBAL":
            names.add(arg.replace(" ", "."))
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            names.add(".".join(strings[-2:]))
    return names


def test_malicious_checkpoint_is_refused_and_never_runs(tmp_path, run_hrm):
    with zipfile.ZipFile(PICKLES / "malicious.pt") as z:
        pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
        assert "posix.system" in _globals_in(z.read(pkl))  # the file really tries to run a command

    from hrm_engine.reference.torch_pickle import TorchPickleError, load_torch_zip

    with pytest.raises(TorchPickleError, match="the pickle calls posix.system") as info:
        load_torch_zip(PICKLES / "malicious.pt")
    assert info.value.exit_code == 2

    out = run_hrm("import", "reference", str(PICKLES / "malicious.pt"), "--arch", str(REF_CKPT / "all_config.yaml"),
                  "--output", "run", cwd=tmp_path)
    assert out.returncode == 2
    assert "refusing to load" in out.stderr and "posix.system" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "hrm-pickle-was-executed").exists() and not (tmp_path / "run").exists()


class _Payload:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("func, name", [(os.system, "posix.system"), (eval, "(__builtin__|builtins).eval"),
                                        (shutil.rmtree, "shutil.rmtree")])
def test_handmade_malicious_zips_are_refused(tmp_path, protocol, func, name):
    from hrm_engine.reference.torch_pickle import TorchPickleError, load_torch_zip

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"w": _Payload(func, str(tmp_path / "victim"))}, protocol=protocol))
    (tmp_path / "victim").mkdir()
    with pytest.raises(TorchPickleError, match=f"the pickle calls {name}"):
        load_torch_zip(path)
    assert (tmp_path / "victim").is_dir()


def test_damaged_checkpoints_are_reported(tmp_path):
    from hrm_engine.reference.torch_pickle import TorchPickleError, load_torch_zip

    damaged = tmp_path / "short.pt"
    with zipfile.ZipFile(PICKLES / "benign.pt") as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            dst.writestr(item, data[:4] if "/data/" in item else data)  # every storage truncated to 4 bytes
    with pytest.raises(TorchPickleError, match="damaged"):
        load_torch_zip(damaged)
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(TorchPickleError, match="legacy"):
        load_torch_zip(legacy)


# -- reference checkpoints -----------------------------------------------------------------------------
def test_compile_prefix_is_stripped():
    from hrm_engine.reference.convert import read_checkpoint
    from hrm_engine.reference.torch_pickle import load_torch_state_dict

    raw = load_torch_state_dict(REF_CKPT / "step_12")
    assert raw and all(k.startswith("_orig_mod.model.inner.") for k in raw)
    state = read_checkpoint(REF_CKPT / "step_12")
    assert set(state) == {k.removeprefix("_orig_mod.") for k in raw}
    from hrm_engine.reference.convert import read_safetensors

    fixture_weights = read_safetensors(SMALL / "weights.safetensors")
    assert set(state) == set(fixture_weights)
    for key, value in fixture_weights.items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)


def test_mismatched_tensors_are_named(tmp_path, run_hrm):
    from hrm_engine.reference.parity import build_model, load_fixture
    from hrm_engine.reference.convert import load_reference_weights, read_safetensors

    weights = read_safetensors(SMALL / "weights.safetensors")
    del weights["model.inner.q_head.bias"]
    weights["model.inner.extra.weight"] = np.zeros(3, np.float32)
    weights["model.inner.lm_head.weight"] = weights["model.inner.lm_head.weight"][:-1]
    model = build_model(load_fixture(SMALL))
    with pytest.raises(EngineError) as info:
        load_reference_weights(model, weights, source="bad")
    message = str(info.value)
    assert "missing model.inner.q_head.bias" in message
    assert "unexpected model.inner.extra.weight" in message
    assert "model.inner.lm_head.weight has shape (5, 64)" in message

    bad = tmp_path / "bad.safetensors"
    _write_safetensors(bad, weights)
    out = run_hrm("import", "reference", str(bad), "--arch", str(SMALL / "config.json"), "-o", "run")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    for name in ("model.inner.q_head.bias", "model.inner.extra.weight", "model.inner.lm_head.weight"):
        assert name in out.stderr
    assert not (tmp_path / "run").exists()


def _reference_eval_metrics(fixture: Path) -> dict[str, float]:
    """The reference's eval metrics (ACTLossHead, every key / count) from its own last-segment outputs."""
    cfg = json.loads((fixture / "config.json").read_text())
    last = cfg["halt_max_steps"] - 1
    with np.load(fixture / "eval.npz") as ev, np.load(fixture / "batch.npz") as b:
        logits, q, labels = ev[f"logits_{last}"].astype(np.float64), ev[f"q_halt_{last}"].astype(np.float64), b["labels"]
    mask = labels != -100
    n = mask.sum(-1)
    div = np.maximum(n, 1)[:, None]
    s = np.where(logits < 0, 1 / (1 - logits + 1e-30), logits + 1)
    logp = np.log(s / s.sum(-1, keepdims=True))
    ce = -np.where(mask, np.take_along_axis(logp, np.where(mask, labels, 0)[..., None], -1)[..., 0], 0)
    correct = mask & (logits.argmax(-1) == labels)
    seq = correct.sum(-1) == n
    valid = n > 0
    count = valid.sum()
    bce = np.maximum(q, 0) - q * seq + np.log1p(np.exp(-np.abs(q)))
    return {"count": count, "exact_accuracy": (valid & seq).sum() / count,
            "accuracy": np.where(valid, (correct / div).sum(-1), 0).sum() / count,
            "q_halt_accuracy": (valid & ((q >= 0) == seq)).sum() / count, "steps": cfg["halt_max_steps"],
            "lm_loss": (ce / div).sum() / count, "q_halt_loss": bce.sum() / count}


def test_import_reference_then_eval_matches_the_reference(tmp_path, run_hrm):
    """A torch.compile'd reference checkpoint + all_config.yaml -> run dir; `hrm eval` = the reference's metrics."""
    dataset_from_fixture(tmp_path / "data" / "parity-toy", SMALL)  # all_config.yaml's data_path
    out = run_hrm("import", "reference", str(REF_CKPT / "step_12"), "--output", "runs/ref", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["step"] == 12 and info["tensors"] == 15 and info["metadata_from"] == "data/parity-toy"
    ev = run_hrm("eval", "runs/ref", "--data", "data/parity-toy", "--batch-size", "4", "--json")
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout)["metrics"]
    assert json.loads(ev.stdout)["step"] == 12
    for key, value in _reference_eval_metrics(SMALL).items():
        assert metrics[key] == pytest.approx(float(value), rel=1e-5, abs=1e-7), key

    from hrm_engine.run.checkpoint import load_checkpoint
    from hrm_engine.reference.convert import read_safetensors, reference_name
    from mlx.utils import tree_flatten

    loaded = load_checkpoint(tmp_path / "runs" / "ref")
    ref = read_safetensors(SMALL / "weights.safetensors")
    for name, value in tree_flatten(loaded.model.parameters()):
        np.testing.assert_array_equal(np.array(value), ref[reference_name(name)], err_msg=name)
    assert loaded.model.config.rms_norm_eps == 1e-6 and loaded.model.config.rope_theta == 500.0


def test_imported_run_resumes_training(tmp_path, run_hrm):
    data = dataset_from_fixture(tmp_path / "d", SMALL)
    out = run_hrm("import", "reference", str(REF_CKPT / "step_12"), "--data", str(data), "-o", "run", "--step", "0")
    assert out.returncode == 0, out.stderr
    tr = run_hrm("train", str(data), "--resume", "run", "max_steps=1", "eval_interval=null", "compile=false", "--json")
    assert tr.returncode == 0, tr.stderr
    summary = json.loads(tr.stdout)
    assert summary["status"] == "finished" and summary["step"] == 1 and summary["last_eval"]["count"] == 3


def test_import_safetensors_with_a_model_config(tmp_path):
    """The same weights as safetensors and a JSON model config (seq_len in it): no dataset needed."""
    import mlx.core as mx

    from hrm_engine.act import evaluate_batch
    from hrm_engine.run.checkpoint import load_checkpoint
    from hrm_engine.reference.convert import import_reference

    fixture = PARITY[0]
    result = import_reference(fixture / "weights.safetensors", tmp_path / "run", arch_config=fixture / "config.json")
    assert result.metadata_from == "the model config" and result.step == 0
    loaded = load_checkpoint(tmp_path / "run")
    with np.load(fixture / "batch.npz") as b, np.load(fixture / "eval.npz") as ev:
        batch = {k: mx.array(b[k]) for k in b.files}
        last = json.loads((fixture / "config.json").read_text())["halt_max_steps"] - 1
        ref = ev[f"logits_{last}"]
    _, outputs = evaluate_batch(loaded.model, batch)
    ours = np.array(outputs["logits"].astype(mx.float32))
    assert np.abs(ours - ref).max() / np.abs(ref).max() < 1e-4
    with pytest.raises(HRMError, match="not empty"):
        import_reference(fixture / "weights.safetensors", tmp_path / "run", arch_config=fixture / "config.json")


def test_reference_names_round_trip():
    from hrm_engine.reference.convert import our_name, reference_name

    for ours in ("embed_tokens.weight", "embed_pos", "puzzle_emb", "H_init", "q_head.bias",
                 "L_level.layers.3.mlp.down_proj.weight"):
        assert our_name(reference_name(ours)) == ours
    assert reference_name("puzzle_emb") == "model.inner.puzzle_emb.weights"
    assert our_name("model.inner.embed_tokens.embedding_weight") == "embed_tokens.weight"
    assert our_name("optimizer.state") is None
