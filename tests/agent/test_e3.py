"""hrm agent e3: every snapshot of each adapter (and the base model) is a bench run on the same held-out
chains; the curve's x is steps x batch, its y the pass@1 of that run with a bootstrap interval; rerunning
resumes; adapters without snapshots and non-held-out depths are one-line errors. The model is a real HTTP
server scripted to solve the first k tasks at the k-th point, so each point's score is known in advance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrm_agent.backends.http import OpenAIBackend
from hrm_agent.bench.curriculum import curriculum_suite
from hrm_agent.bench.curriculum_experiment import BASE, heldout_suite, plan_points, run_e3
from hrm_agent.errors import AgentError
from hrm_engine.config import resolve_config


def _adapter(root: Path, name: str, schedule: str, steps: list[int], batch: int = 4) -> None:
    folder = root / "adapters" / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapters.safetensors").write_bytes(b"")
    (folder / "hrm-adapter.json").write_text(json.dumps({"options": {"schedule": schedule, "batch_size": batch}}))
    for step in steps:
        snap = folder / "snapshots" / f"step-{step:07d}"
        snap.mkdir(parents=True)
        (snap / "adapters.safetensors").write_bytes(b"")
        (snap / "adapter_config.json").write_text("{}")
        (snap / "snapshot.json").write_text(json.dumps({"step": step}))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_CACHE_DIR", str(tmp_path / "cache"))
    _adapter(tmp_path / "cache", "cur", "curriculum", [10, 20])
    _adapter(tmp_path / "cache", "mix", "mixed", [20, 10])
    return tmp_path / "cache"


def test_points_are_the_base_model_then_each_adapters_snapshots_by_step(cache):
    points = plan_points(["cur", "mix"])
    assert [(p.series, p.step, p.examples_seen) for p in points] == [
        (BASE, 0, 0), ("curriculum (cur)", 10, 40), ("curriculum (cur)", 20, 80),
        ("mixed (mix)", 10, 40), ("mixed (mix)", 20, 80)]
    assert points[2].adapter.endswith("cur/snapshots/step-0000020")
    assert [p.series for p in plan_points(["mix"], include_base=False)] == ["mixed (mix)"] * 2


def test_an_adapter_without_snapshots_or_shallow_depths_are_refused(cache):
    (cache / "adapters" / "plain").mkdir()
    for f in ("adapter_config.json", "adapters.safetensors"):
        (cache / "adapters" / "plain" / f).write_text("{}")
    with pytest.raises(AgentError, match="no snapshots; train it with --snapshot-every"):
        plan_points(["plain"])
    with pytest.raises(AgentError, match="depths of 5 or more"):
        heldout_suite(3, [4, 5])


def test_each_point_is_scored_on_the_same_heldout_chains_and_a_rerun_resumes(cache, fake_llm, tmp_path):
    tasks = curriculum_suite(per_depth=2, depths=[5, 6], heldout=[5, 6]).tasks  # the suite run_e3 builds
    answers = {t.prompt: t.answer for t in tasks}
    order = [t.prompt for t in tasks]
    state = {"point": 0}

    def model(req):  # solves the first `point` tasks of the suite, gets the rest wrong
        prompt = next(p for p in order if p in req.last_user)
        value = answers[prompt] if order.index(prompt) < state["point"] else "wrong"
        return f"```python\nRESULT = {value!r}\n```"

    fake_llm.script([], default=model)
    cfg = resolve_config("agent", None, ["backend=openai", f"base_url={fake_llm.url}", "model=fake", "retries=0"])
    backend = OpenAIBackend(base_url=fake_llm.url, model="fake")
    out = tmp_path / "e3"
    result = run_e3(["cur", "mix"], cfg, out, per_depth=2, backend=backend,
                    on_point=lambda p, i, n: state.update(point=i))
    pts = result["points"]
    assert [(p["series"], p["examples_seen"], p["tasks"], p["passed"]) for p in pts] == [
        (BASE, 0, 4, 0), ("curriculum (cur)", 40, 4, 1), ("curriculum (cur)", 80, 4, 2),
        ("mixed (mix)", 40, 4, 3), ("mixed (mix)", 80, 4, 4)]
    assert pts[1]["pass_at_1"] == 0.25 and pts[1]["lower"] <= 0.25 <= pts[1]["upper"]
    assert pts[4]["by_depth"] == {"5": 1.0, "6": 1.0}
    assert (out / "e3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| mixed (mix) | 20 | 80 | 4 | 1.000 |" in (out / "e3.md").read_text()
    assert json.loads((out / "e3.json").read_text())["points"] == pts

    calls = len(fake_llm.chat_requests)
    again = run_e3(["cur", "mix"], cfg, out, per_depth=2, backend=backend)
    assert len(fake_llm.chat_requests) == calls and again["points"] == pts  # every point resumed, none rerun
    with pytest.raises(AgentError, match="other held-out tasks"):
        run_e3(["cur"], cfg, out, per_depth=3, backend=backend)


def test_cli_refuses_bad_depths_in_one_line(run_hrm, cache):
    proc = run_hrm("agent", "e3", "cur", "--depths", "five")
    assert proc.returncode == 2 and "--depths 'five'" in proc.stderr and "Traceback" not in proc.stderr
