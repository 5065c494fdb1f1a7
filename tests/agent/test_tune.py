"""hrm agent tune on the real default model: a tiny LoRA run writes an adapter that mlx-lm loads and that
changes the logits; SIGTERM saves a checkpoint and the same command continues from it to the same
weights as an uninterrupted run; bad options are one line and exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hrm_agent.backends.adapters import MANIFEST, AdapterError, adapter_options, list_snapshots, resolve_adapter
from hrm_agent.tune.lora import TuneOptions, tune

HRM = [str(Path(sys.executable).parent / "hrm")]
TINY = dict(steps=3, examples=3, batch_size=2, rank=2, layers=1, lr=1e-3, save_every=1)
TINY_ARGS = ["--steps", "3", "--examples", "3", "--batch-size", "2", "--rank", "2", "--layers", "1", "--lr", "1e-3",
             "--save-every", "1"]


def _hrm(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*HRM, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _weights(folder: Path) -> dict:
    import mlx.core as mx

    return mx.load(str(folder / "adapters.safetensors"))


@pytest.mark.slow
def test_tiny_tune_writes_an_adapter_that_loads_and_changes_the_logits(model_dir, tmp_path):
    import mlx.core as mx
    from mlx_lm import load

    summary = tune(TuneOptions(name="tiny", **TINY, snapshot_every=2), root=tmp_path)
    folder = Path(summary["folder"])
    assert summary["complete"] and summary["steps_done"] == 3
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["base_model"] == model_dir.name and manifest["options"]["schedule"] == "mixed"
    assert manifest["data"]["chat_examples"] == sum(1 for _ in open(folder / "train.jsonl"))
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["num_layers"] == 1 and config["lora_parameters"]["rank"] == 2

    base, tok = load(str(model_dir))
    tuned, _ = load(str(model_dir), adapter_path=str(folder))
    ids = mx.array([tok.encode("TASK: What is 17 * 23?")])
    diff = mx.abs(base(ids) - tuned(ids)).max().item()
    assert diff > 1e-5  # the adapter is applied (its B matrices start at zero: no change before training)
    assert any(k.endswith("lora_b") for k in _weights(folder))

    snaps = list_snapshots(folder)  # every 2nd step and the last: loadable adapters of their own
    assert [step for step, _ in snaps] == [2, 3]
    assert json.loads((snaps[0][1] / "snapshot.json").read_text())["examples_seen"] == 4
    last, first = _weights(snaps[1][1]), _weights(resolve_adapter(snaps[0][1]))
    assert all(mx.array_equal(last[k], _weights(folder)[k]).item() for k in last)
    assert any(not mx.array_equal(first[k], last[k]).item() for k in last)
    early, _ = load(str(model_dir), adapter_path=str(snaps[0][1]))
    assert mx.abs(early(ids) - tuned(ids)).max().item() > 0


def test_the_adapter_option_reaches_the_mlx_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "adapters" / "mine"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapters.safetensors").write_bytes(b"")
    assert adapter_options({"backend": "mlx", "adapter": "mine"}) == {"adapter": str(folder.resolve())}
    assert adapter_options({"backend": "mlx", "adapter": str(folder)}) == {"adapter": str(folder.resolve())}
    assert adapter_options({"backend": "mlx", "adapter": None}) == {}
    with pytest.raises(AdapterError, match="applies to the local mlx backend"):
        adapter_options({"backend": "openai", "adapter": "mine"})
    with pytest.raises(AdapterError, match="no adapter 'other'.*installed: mine"):
        resolve_adapter("other")
    from hrm_agent.runner import backend_from_config

    backend = backend_from_config({"backend": "mlx", "model": None, "adapter": "mine"})
    assert backend.adapter == str(folder.resolve())


@pytest.mark.slow
def test_sigterm_saves_and_the_same_command_resumes_to_the_uninterrupted_weights(model_dir, cache_root):
    import mlx.core as mx

    env = {"HRM_CACHE_DIR": str(cache_root)}
    args = ["agent", "tune", "--name", "resumed", *TINY_ARGS]
    proc = subprocess.Popen([*HRM, *args, "--force"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    manifest = cache_root / "adapters" / "resumed" / MANIFEST
    deadline = time.monotonic() + 500
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads(manifest.read_text()).get("steps_done", 0) >= 1:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    saved = json.loads(manifest.read_text())
    assert not saved["complete"] and 1 <= saved["steps_done"] < 3
    assert f"checkpoint saved at step {saved['steps_done']}" in " ".join(err.split())

    again = _hrm(*args, env=env)  # the same command (without --force): it continues the checkpoint
    assert again.returncode == 0, again.stderr
    assert f"resuming resumed from step {saved['steps_done']} of 3" in " ".join(again.stderr.split())
    final = json.loads(manifest.read_text())
    assert final["complete"] and final["steps_done"] == 3

    # The uninterrupted run goes through the same command in a fresh process too: run in this process it would
    # inherit what earlier tests left (an HRM model built here sets OpenBLAS to one thread, and one thread
    # against the subprocess's default changed a LoRA weight by 8.6e-5 after 3 Adam steps).
    straight = _hrm("agent", "tune", "--name", "straight", *TINY_ARGS, "--force", env=env)
    assert straight.returncode == 0, straight.stderr
    a, b = _weights(cache_root / "adapters" / "straight"), _weights(manifest.parent)
    assert a.keys() == b.keys()
    for key in a:
        assert mx.allclose(a[key], b[key], atol=1e-6).item(), key


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps must be an integer >= 1"),
    (["--schedule", "zigzag"], "--schedule 'zigzag': choose curriculum or mixed"),
    (["--lr", "5"], "--lr must be a number between 0 and 1"),
    (["--data", "poetry"], "--data 'poetry': choose from math, chains"),
    (["--roles", "poet"], "--roles 'poet': choose from planner, solver"),
    (["--name", "../x"], "--name '../x': use letters"),
    (["--resume", "never-trained"], "nothing to resume: no adapter 'never-trained'"),
])
def test_bad_options_are_one_line_and_exit_2(args, message, tmp_path):
    res = _hrm("agent", "tune", *args, env={"HRM_CACHE_DIR": str(tmp_path)})
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert message in " ".join(" ".join(lines).split()) and "Traceback" not in res.stderr
    assert len(" ".join(lines)) < 400


def test_unknown_adapter_on_run_is_one_line_and_exit_2(tmp_path):
    env = {"HRM_CACHE_DIR": str(tmp_path)}
    res = _hrm("agent", "run", "What is 17 * 23?", "--adapter", "nope", "--allow-weak-sandbox", env=env)
    assert res.returncode == 2, res.stderr
    assert "no adapter 'nope'" in res.stderr and "hrm agent tune" in " ".join(res.stderr.split())
    assert "Traceback" not in res.stderr


def test_doctor_lists_installed_adapters(tmp_path, monkeypatch):
    from hrm_agent.backends.adapters import adapters_summary

    monkeypatch.setenv("HRM_CACHE_DIR", str(tmp_path))
    assert adapters_summary().startswith("none")
    folder = tmp_path / "adapters" / "a1"
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps({"complete": False, "steps_done": 40,
                                               "options": {"steps": 100, "schedule": "curriculum"}}))
    assert adapters_summary().startswith("a1 (partial, 40/100 steps, curriculum)")
