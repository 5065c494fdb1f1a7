"""`hrm train`, `hrm eval`, `hrm solve`, `hrm bench`, `hrm doctor` through the real console script."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

TINY = ["arch.hidden_size=32", "arch.num_heads=2", "arch.H_layers=1", "arch.L_layers=1", "global_batch_size=16",
        "arch.halt_max_steps=2", "max_steps=4", "log_interval=2", "eval_interval=null"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real tiny training run through the CLI (module-scoped: several tests read it)."""
    import os
    import subprocess

    from hrm_paths import HRM

    root = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "NO_COLOR": "1"}
    run = lambda *a: subprocess.run([HRM, *a], cwd=root, capture_output=True, text=True, env=env, timeout=300)  # noqa: E731
    assert run("data", "build", "sudoku", "--size", "4", "--count", "64", "--test-count", "8", "-o", "d4").returncode == 0
    out = run("train", "d4", "--config", "hrm-tiny", *TINY, "--run-name", "r", "--json")
    assert out.returncode == 0, out.stderr
    return root, json.loads(out.stdout)


def test_train_writes_the_run_directory(trained):
    root, summary = trained
    run = root / "runs" / "r"
    assert summary["status"] == "finished" and summary["step"] == 4
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["total_steps"] == 4
    assert info["device"].split(" ")[0] in ("cpu", "gpu")  # recorded, e.g. "cpu (AMD EPYC)"
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [x for x in lines if x["type"] == "train"]
    assert [x["step"] for x in train] == [2, 4] and lines[-1]["type"] == "eval"
    for key in ("lm_loss", "q_halt_loss", "q_continue_loss", "accuracy", "exact_accuracy", "steps", "lr", "tokens_per_s"):
        assert key in train[0]
    assert (run / "config.yaml").is_file() and list((run / "checkpoints").glob("step_*"))


def test_eval_and_solve(trained, run_hrm):
    root, _ = trained
    ev = run_hrm("eval", "runs/r", "--data", "d4", "--json", cwd=root)
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout)["metrics"]
    assert metrics["count"] == 8 and 0 <= metrics["exact_accuracy"] <= 1
    table = run_hrm("eval", "runs/r", "--data", "d4", cwd=root)
    assert table.stdout.index("exact accuracy") < table.stdout.index("token accuracy")
    puzzle = "1..4.3...1..2..3"
    out = run_hrm("solve", "runs/r", "--puzzle", puzzle, "--json", cwd=root)
    assert out.returncode == 0, out.stderr
    sol = json.loads(out.stdout)["solutions"][0]
    assert sol["kind"] == "sudoku" and sol["steps_run"] == 2 and 0 <= sol["q_halt_prob"] <= 1
    assert sol["consistent_with_givens"] in (True, False) and len(sol["grid"]) == 4
    piped = run_hrm("solve", "runs/r", "-", input=puzzle, cwd=root)
    assert piped.returncode in (0, 1) and "puzzle" in piped.stdout and "ACT" in piped.stdout


def _one_line(result, fragment):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert fragment in result.stderr


def test_cli_errors_are_one_line(trained, run_hrm):
    root, _ = trained
    _one_line(run_hrm("eval", "runs/none", "--data", "d4", cwd=root), "does not exist")
    _one_line(run_hrm("solve", "runs/r", "--puzzle", "123", cwd=root), "not a 4x4")
    _one_line(run_hrm("solve", "runs/r", "--puzzle", "1" * 81, cwd=root), "trained on 4x4")
    _one_line(run_hrm("solve", "runs/r", "--puzzle", "11" + "." * 14, cwd=root), "invalid")
    _one_line(run_hrm("train", "missing-data", cwd=root), "missing-data")
    assert run_hrm("data", "build", "sudoku", "--size", "6", "--count", "20", "--test-count", "4", "-o", "d6",
                   cwd=root).returncode == 0
    _one_line(run_hrm("eval", "runs/r", "--data", "d6", cwd=root), "vocab_size")
    _one_line(run_hrm("train", "d6", "--resume", "runs/r", cwd=root), "vocab_size")
    _one_line(run_hrm("train", "d4", "--config", "hrm-tiny", "arch.hidden_size=30", cwd=root), "num_heads")


def test_bench_and_doctor(run_hrm):
    bench = run_hrm("bench", "train", "--config", "hrm-tiny", *TINY[:5], "--steps", "1", "--warmup", "1",
                    "--seq-len", "16", "--vocab", "6", "--breakdown", "--json")
    assert bench.returncode == 0, bench.stderr
    res = json.loads(bench.stdout)
    assert res["tokens_per_s"] > 0 and res["peak_memory_mb"] > 0 and res["device"]
    phases = res["phases_ms"]  # each phase really ran and took time; the step has host work to launch
    for key in ("no_grad_cycles", "gradient_cycle", "q_target", "optimizers", "full_step", "host_launch"):
        assert phases[key] > 0, key
    assert phases["sum_of_phases"] == pytest.approx(sum(phases[k] for k in
                                                        ("no_grad_cycles", "gradient_cycle", "q_target", "optimizers")))
    trm = run_hrm("bench", "train", "--config", "trm-tiny", *TINY[:5], "--steps", "1", "--warmup", "1",
                  "--seq-len", "16", "--vocab", "6", "--breakdown", "--json")
    assert trm.returncode == 0, trm.stderr
    trm_phases = json.loads(trm.stdout)["phases_ms"]  # TRM halts on q_halt alone: no Q-target segment runs
    assert trm_phases["q_target"] == 0 and trm_phases["no_grad_cycles"] > 0 and trm_phases["gradient_cycle"] > 0
    sweep = run_hrm("bench", "train", "--config", "hrm-tiny", *TINY[:5], "--steps", "1", "--warmup", "1",
                    "--seq-len", "16", "--vocab", "6", "--sweep", "arch.H_cycles=1,3", "--wait-each-step", "--json")
    rows = json.loads(sweep.stdout)
    assert [r["H_cycles"] for r in rows] == [1, 3]
    assert res["wait_each_step"] is False and all(r["wait_each_step"] for r in rows)
    doc = run_hrm("doctor", "--json", "--no-compare")
    report = json.loads(doc.stdout)
    assert report["blas_optimised"] is (doc.returncode == 0) and report["matmul_gflops"] > 0
    if sys.platform == "linux":  # the CPU wheel, named with the version MLX itself reports
        assert report["mlx_backend"].startswith(f"mlx-cpu {report['mlx']}")
    if sys.platform == "linux" and shutil.which("g++") and os.environ.get("HRM_CPU_JIT_FLAGS") != "":
        assert "-march=native" in report["cpu_jit_flags"] and report["malloc_tuned"] is True
    data = run_hrm("bench", "data", "--count", "20", "--size", "4", "--json")
    assert json.loads(data.stdout)["count"] == 20
