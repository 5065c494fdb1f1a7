"""One short end-to-end agent run on the default local model (SmolLM2-135M through mlx-lm), offline."""

from __future__ import annotations

import json

import pytest

from hrm_agent.trace import read_trace

pytestmark = pytest.mark.slow


def test_hierarchical_run_on_the_default_local_model(run_hrm, cache_root, tmp_path):
    proc = run_hrm("agent", "run", "What is 6 * 7? Return exactly: 'Answer: <n>'.", "--json",
                   "budget.max_model_tokens=700", "budget.max_tokens_per_call=48", f"runs_dir={tmp_path}",
                   env={"HRM_CACHE_DIR": str(cache_root), "HF_HUB_OFFLINE": "1", "NO_PROXY": "*",
                        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"})
    assert proc.returncode in (0, 1), proc.stderr  # answered or not, never a crash or a backend error
    result = json.loads(proc.stdout)
    assert result["backend"] == "mlx" and "smollm2" in result["model"]
    assert result["model_calls"] >= 2 and result["completion_tokens"] > 0
    events = read_trace(result["trace"])
    calls = [e for e in events if e["event"] == "model_call"]
    assert calls[0]["role"] == "planner" and all(e["response"].strip() for e in calls)
    assert events[-1]["event"] == "run_end"
    # the budget ended the run, with its reason, instead of letting a slow CPU model run on
    assert result["stop_reason"] in ("budget", "submitted", "max_rounds")
