"""Kill a real `hrm train` with SIGKILL at random moments, resume it each time, and compare with a run that
never stopped: every step exactly once in metrics.jsonl, the same metrics, bit-identical final parameters.

    .venv/bin/python tools/kill_resume_check.py --kills 20 --steps 1500

Uses a tiny 4x4 Sudoku set and a small hrm-tiny variant with a checkpoint every 3 steps, so each kill
lands before, during or between checkpoint writes. Exit 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HRM = str(Path(sys.executable).with_name("hrm"))


def train_args(data: Path, runs: Path, name: str, steps: int) -> list[str]:
    return [HRM, "train", str(data), "--config", "hrm-tiny", "--run-name", name, "--json", f"runs_dir={runs}",
            f"max_steps={steps}", "checkpoint_interval=3", "log_interval=1", "global_batch_size=16",
            "arch.hidden_size=32", "arch.num_heads=2", "eval_interval=null", "keep_checkpoints=2", "epochs=120"]


def final_params(run: Path) -> dict:
    import mlx.core as mx

    ckpts = sorted((run / "checkpoints").glob("step_*"))
    return {k: v for k, v in mx.load(str(ckpts[-1] / "model.safetensors")).items()}, ckpts[-1].name


def metric_steps(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("split", "train") == "train" and "step" in r]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="hrm-kill-"))
    data, runs = root / "data", root / "runs"
    subprocess.run([HRM, "data", "build", "sudoku", "--size", "4", "--difficulty", "easy", "--count", "128",
                    "--test-count", "16", "--seed", "1", "--output", str(data)], check=True, capture_output=True)
    t0 = time.monotonic()
    subprocess.run(train_args(data, runs, "straight", args.steps), check=True, capture_output=True)
    straight_s = time.monotonic() - t0
    killed = runs / "killed"
    outcomes = []
    for i in range(args.kills):
        cmd = train_args(data, runs, "killed", args.steps)
        if (killed / "config.yaml").exists():
            cmd = [HRM, "train", str(data), "--resume", str(killed), "--json"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        delay = rng.uniform(1.0, 5.0)  # start-up is about 2-3 s: some kills land before the first step
        try:
            proc.wait(timeout=delay)
            outcomes.append(f"finished before kill {i + 1} (exit {proc.returncode})")
            break
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            outcomes.append(f"kill {i + 1} at {delay:.1f}s")
    done = subprocess.run([HRM, "train", str(data), "--resume", str(killed), "--json"], capture_output=True,
                          text=True)
    ok = True
    if done.returncode != 0:
        print(f"final resume failed: exit {done.returncode}: {done.stderr.strip()[-500:]}")
        return 1
    a, b = metric_steps(runs / "straight"), metric_steps(killed)
    steps_b = [r["step"] for r in b]
    once = len(steps_b) == len(set(steps_b)) and steps_b == [r["step"] for r in a]
    same_metrics = all(abs(x.get("lm_loss", 0) - y.get("lm_loss", 0)) == 0 for x, y in zip(a, b))
    (pa, na), (pb, nb) = final_params(runs / "straight"), final_params(killed)
    import mlx.core as mx

    identical = na == nb and pa.keys() == pb.keys() and all(bool(mx.array_equal(pa[k], pb[k])) for k in pa)
    staging = list((killed / "checkpoints").glob(".step_*"))
    ok = once and same_metrics and identical and not staging
    print(json.dumps({"kills": sum("kill" in o and "finished" not in o for o in outcomes), "outcomes": outcomes,
                      "steps_each_once": once, "metrics_identical": same_metrics,
                      "final_parameters_identical": identical, "final_checkpoint": nb,
                      "staging_left": [p.name for p in staging], "uninterrupted_run_s": round(straight_s, 1)},
                     indent=2))
    shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
