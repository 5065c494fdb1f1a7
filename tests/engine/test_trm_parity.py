"""Parity of our MLX TRM with TinyRecursiveModels' own PyTorch code (fixtures in tests/fixtures/trm_parity,
recorded on the CPU by `tools/make_parity_fixture.py --arch trm`), within HRM's tolerances (docs/parity.md).
PyTorch is not needed to run these tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrm_paths import REPO
from parity_data import dataset_from_fixture, last_segment_logits_error

FIXTURES = sorted(p for p in (REPO / "tests" / "fixtures" / "trm_parity").iterdir() if (p / "config.json").is_file())


def _fixture_keys(path) -> set[str]:
    from hrm_engine.reference.convert import read_safetensors

    keys = set()
    for name in ("eval", "train"):
        with np.load(path / f"{name}.npz") as data:
            keys |= {f"{name} {k}" for k in data.files}
    return keys | {f"grad {k}" for k in read_safetensors(path / "grads1.safetensors")}


def test_fixtures_cover_both_variants():
    configs = [json.loads((p / "config.json").read_text()) for p in FIXTURES]
    assert all("trm@" in c["name"] and c["no_ACT_continue"] for c in configs)
    assert {True, False} == {c["mlp_t"] for c in configs}
    assert {"rope", "learned", "none"} <= {c["pos_encodings"] for c in configs}
    assert any(c["puzzle_emb_len"] == 0 for c in configs) and len({c["H_cycles"] for c in configs}) >= 2


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.name for p in FIXTURES])
def test_trm_parity(fixture):
    from hrm_engine.models.trm import TRM
    from hrm_engine.reference.parity import build_model, load_fixture, run_parity

    assert isinstance(build_model(load_fixture(fixture)), TRM)
    report = run_parity(fixture)
    failed = [(c.name, c.max_rel, c.note) for c in report.comparisons if not c.passed]
    assert report.passed, failed
    assert {c.name for c in report.comparisons} == _fixture_keys(fixture)  # everything stored was compared
    assert not any(c.name.startswith("train metric_q_continue") for c in report.comparisons)  # TRM logs none
    assert all(c.max_abs == 0 for c in report.comparisons if c.kind == "exact")
    grads = [c for c in report.comparisons if c.kind == "grad"]
    assert len(grads) >= 8


def test_cli_parity_on_a_trm_fixture(run_hrm):
    out = run_hrm("parity", str(FIXTURES[0]), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["passed"] is True


def test_import_a_trm_checkpoint_then_evaluate(tmp_path):
    """TRM's weights and model config -> a run directory whose model is our TRM and gives TRM's logits."""
    from hrm_engine.run.checkpoint import load_checkpoint
    from hrm_engine.models.trm import TRM
    from hrm_engine.reference.convert import import_reference

    fixture = next(p for p in FIXTURES if json.loads((p / "config.json").read_text())["mlp_t"])
    cfg = json.loads((fixture / "config.json").read_text())
    import_reference(fixture / "weights.safetensors", tmp_path / "run", arch_config=fixture / "config.json")
    loaded = load_checkpoint(tmp_path / "run")
    assert isinstance(loaded.model, TRM) and loaded.model.config.mlp_t
    assert loaded.config["arch"]["name"] == "trm" and loaded.config["arch"]["puzzle_emb_len"] == cfg["puzzle_emb_len"]
    assert last_segment_logits_error(loaded.model, fixture) < 1e-4


def test_import_a_torch_trm_checkpoint(tmp_path, run_hrm):
    """A torch.compile'd TRM state_dict with TRM's all_config.yaml (data_paths list, ema) -> run -> TRM's logits."""
    from hrm_engine.run.checkpoint import load_checkpoint

    fixture = REPO / "tests" / "fixtures" / "trm_parity" / "h64-mlpt-act3"  # trm_reference_checkpoint holds its weights
    dataset_from_fixture(tmp_path / "data" / "trm-toy", fixture)  # all_config.yaml's data_paths[0]
    ckpt = REPO / "tests" / "fixtures" / "trm_reference_checkpoint" / "step_7"
    out = run_hrm("import", "reference", str(ckpt), "--output", "runs/trm", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["step"] == 7 and json.loads(out.stdout)["metadata_from"] == "data/trm-toy"
    loaded = load_checkpoint(tmp_path / "runs" / "trm")
    assert loaded.config["arch"]["mlp_t"] is True and loaded.config["ema"] is None  # ema on: arch is trm
    assert last_segment_logits_error(loaded.model, fixture) < 1e-4
    ev = run_hrm("eval", "runs/trm", "--data", "data/trm-toy", "--json")
    assert ev.returncode == 0, ev.stderr
