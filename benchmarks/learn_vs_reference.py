"""Time to accuracy, side by side: the reference HRM, the reference TRM, hrm in HRM mode, hrm in TRM mode.

    .venv/bin/python benchmarks/learn_vs_reference.py --data data/sudoku6-medium-1k \
        --hrm-reference /tmp/refs/HRM --trm-reference /tmp/refs/TinyRecursiveModels \
        --torch-python /tmp/torchenv/bin/python --set epochs=6000 --budget 30 --eval-every 60 \
        --eval-examples 500 --rounds 3 --out-dir runs/learn/side-by-side

(the task and the procedure: docs/learning.md).

Every arm is `hrm bench learn`'s measurement (engine/bench/learn.py): training time on a clock that stops for
each evaluation (reported apart), held-out exact accuracy on the same first `--eval-examples` test examples,
evaluations on the same grid of training seconds, the same budget and target. The arms run one after the other
(never two at once: they would share the cores), in alternating order from round to round, so a drift in the
machine's speed does not favour one side. Each writes a curve file in the format of `hrm bench learn`
(`<out-dir>/<arm>-r<round>.json`; `hrm dashboard --learn <out-dir>` overlays them), and the script prints when
each arm first reached each accuracy level, with its steps/s and tokens/s.

The reference arms run the references' own model, loss head, data loader and sparse sign-SGD, in a PyTorch
interpreter you name (`--torch-python`: torch, pydantic, numpy; einops and argdantic for TRM):
  - sapientinc/HRM: `HierarchicalReasoningModel_ACTV1` in `models.losses.ACTLossHead`, `puzzle_dataset.PuzzleDataset`;
  - SamsungSAILMontreal/TinyRecursiveModels: `TinyRecursiveReasoningModel_ACTV1` in its `ACTLossHead`, its
    `PuzzleDataset`, and its `models.ema.EMAHelper` (the weights' moving average, evaluated as its pretrain.py does).
The training step is their pretrain.py's `train_batch` (carry kept across steps, loss / global batch, backward,
sign-SGD on the puzzle embedding then the network optimizer, lr from their warm-up + cosine schedule, copied below),
their evaluation loop is `evaluate` (each test batch from a fresh carry until every row halts; metrics / count).
Their network optimizer, `adam_atan2.AdamATan2`, is a CUDA extension that does not build here, so `AdamATan2`
below is its definition in plain torch (decoupled weight decay, Adam moments, the step atan2(m_hat, sqrt(v_hat)),
no epsilon; a = b = 1 as they construct it). Differences from running their pretrain.py: eager PyTorch (their
script calls torch.compile, which on a CPU needs a C++ toolchain and minutes of compilation, and which we would
then count as training time), one process with the loader in it (their DataLoader uses one worker process, which
on a 2-core machine takes a core from the training), no wandb, no checkpoints. FlashAttention is PyTorch's SDPA
(tools/flash_attn_stub.py) for HRM; TRM already uses SDPA.

The configuration of every arm is hrm's resolved preset (`--hrm-config`, `--trm-config`, plus `--set key=value`
for both): the reference arms get the same sizes, batch, learning rates, warm-up, weight decays, betas, epochs,
EMA and seed. The model dtype is float32 everywhere (CPU). The `hrm-new` arm is hrm's own recipe instead
(`--new-config`, default `trm-sudoku9-fast`: the same model, depth stages and a schedule of its own, plus
`--new-set` overrides for it alone, e.g. `--new-set cycles_schedule=null` for an ablation); no reference arm
has an equivalent, which is the point of the comparison.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ARMS = {
    "ref-hrm": "reference HRM (sapientinc/HRM, PyTorch)",
    "ref-trm": "reference TRM (TinyRecursiveModels, PyTorch)",
    "hrm-hrm": "hrm, HRM mode (MLX)",
    "hrm-trm": "hrm, TRM mode (MLX)",
    "hrm-new": "hrm, TRM mode, new recipe (MLX)",
}
LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


# -- the PyTorch side (runs inside --torch-python) ------------------------------------------------------------------
def torch_worker(spec: dict) -> None:
    """The reference's training and evaluation, timed as engine/bench/learn.py times hrm; JSON lines on stdout."""
    import torch

    reference, kind, cfg = Path(spec["reference"]), spec["kind"], spec["config"]
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    sys.path.insert(0, str(reference))
    if kind == "hrm":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
        import flash_attn_stub

        flash_attn_stub.install()
        from models.hrm.hrm_act_v1 import HierarchicalReasoningModel_ACTV1 as Model
    else:
        from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1 as Model
    from models.losses import ACTLossHead
    from models.sparse_embedding import CastedSparseEmbeddingSignSGD_Distributed
    from puzzle_dataset import PuzzleDataset, PuzzleDatasetConfig

    def dataset(path: str, test: bool, epochs_per_iter: int = 1) -> PuzzleDataset:
        fields = PuzzleDatasetConfig.model_fields
        paths = {"dataset_paths": [path]} if "dataset_paths" in fields else {"dataset_path": path}
        return PuzzleDataset(PuzzleDatasetConfig(seed=cfg["seed"], global_batch_size=cfg["global_batch_size"],
                                                 test_set_mode=test, epochs_per_iter=epochs_per_iter, rank=0,
                                                 num_replicas=1, **paths), split="test" if test else "train")

    epochs_per_iter = int(cfg["eval_interval"] or cfg["epochs"])
    train_data = dataset(spec["data"], False, epochs_per_iter)
    meta = train_data.metadata
    arch = cfg["arch"]
    model_cfg = {
        "batch_size": cfg["global_batch_size"], "seq_len": meta.seq_len, "vocab_size": meta.vocab_size,
        "num_puzzle_identifiers": meta.num_puzzle_identifiers,
        "puzzle_emb_ndim": arch["puzzle_emb_ndim"] if arch.get("puzzle_emb_ndim") is not None else arch["hidden_size"],
        **{k: arch[k] for k in ("H_cycles", "L_cycles", "H_layers", "L_layers", "hidden_size", "expansion",
                                "num_heads", "pos_encodings", "rms_norm_eps", "rope_theta", "halt_max_steps",
                                "halt_exploration_prob")},
        "forward_dtype": "float32", "causal": False,
    }
    if kind == "trm":
        model_cfg.update(mlp_t=bool(arch["mlp_t"]), no_ACT_continue=bool(arch["no_ACT_continue"]),
                         puzzle_emb_len=16 if arch.get("puzzle_emb_len") is None else int(arch["puzzle_emb_len"]))
    torch.random.manual_seed(cfg["seed"])  # as their launch(): seed + rank
    head = ACTLossHead(Model(model_cfg), loss_type=arch["loss"])
    total_steps = int(cfg["epochs"] * meta.total_groups * meta.mean_puzzle_examples / cfg["global_batch_size"])
    if cfg.get("max_steps"):
        total_steps = min(total_steps, int(cfg["max_steps"]))
    optimizers = [
        CastedSparseEmbeddingSignSGD_Distributed(head.model.puzzle_emb.buffers(), lr=0,
                                                 weight_decay=cfg["puzzle_emb_weight_decay"], world_size=1),
        AdamATan2(head.parameters(), lr=0, weight_decay=cfg["weight_decay"], betas=(cfg["beta1"], cfg["beta2"])),
    ]
    optimizer_lrs = [cfg["puzzle_emb_lr"], cfg["lr"]]
    use_ema = cfg["ema"] if cfg.get("ema") is not None else kind == "trm"
    ema = None
    if use_ema:
        from models.ema import EMAHelper  # TRM's; the HRM reference has none

        ema = EMAHelper(mu=cfg["ema_rate"])
        ema.register(head)
    params = sum(p.numel() for p in head.parameters())  # as pretrain.py counts: not the puzzle table (a buffer)
    emit({"event": "start", "parameters": params, "total_steps": total_steps, "torch": torch.__version__,
          "threads": torch.get_num_threads(), "ema": bool(use_ema), "model_config": model_cfg})

    def evaluate() -> dict:
        model = ema.ema_copy(head) if ema is not None else head  # their "SWITCH TO EMA" (a deep copy)
        model.eval()
        sums: dict[str, float] = {}
        with torch.inference_mode():
            for _set, batch, _n in dataset(spec["eval_data"], True):
                carry = model.initial_carry(batch)
                while True:
                    carry, _loss, metrics, _preds, all_finish = model(carry=carry, batch=batch, return_keys=[])
                    if all_finish:
                        break
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
        head.train()
        count = max(sums.pop("count", 0.0), 1.0)
        return {k: v / count for k, v in sums.items()}

    def batches():
        while True:  # their loop over iterations, each a fresh pass of epochs_per_iter epochs
            for _set, batch, _n in train_data:
                yield batch

    head.train()
    carry, step, train_s = None, 0, 0.0
    budget_s, every, target = spec["budget_s"], spec["eval_every_s"], spec["target"]
    next_eval = min(every, budget_s)
    stream = batches()
    last_loss = None
    while True:
        start = time.perf_counter()
        done = False
        while True:
            batch = next(stream)
            step += 1  # train_batch: the step counts from 1, the lr of step 1 first
            if carry is None:
                carry = head.initial_carry(batch)
            carry, loss, metrics, _, _ = head(carry=carry, batch=batch, return_keys=[])
            ((1 / cfg["global_batch_size"]) * loss).backward()
            for optim, base_lr in zip(optimizers, optimizer_lrs):
                lr = cosine_schedule_with_warmup_lr_lambda(step, base_lr=base_lr,
                                                           num_warmup_steps=round(cfg["lr_warmup_steps"]),
                                                           num_training_steps=total_steps,
                                                           min_ratio=cfg["lr_min_ratio"])
                for group in optim.param_groups:
                    group["lr"] = lr
                optim.step()
                optim.zero_grad()
            if ema is not None:
                ema.update(head)
            last_loss = metrics["lm_loss"]
            done = step >= total_steps
            if train_s + time.perf_counter() - start >= next_eval or done:
                break
        train_s += time.perf_counter() - start
        e0 = time.perf_counter()
        m = evaluate()
        eval_s = time.perf_counter() - e0
        emit({"event": "point", "point": {
            "train_seconds": train_s, "step": step, "exact_accuracy": m["exact_accuracy"], "accuracy": m["accuracy"],
            "steps": m["steps"], "lm_loss": m["lm_loss"], "eval_seconds": eval_s,
            "train_lm_loss": float(last_loss) / cfg["global_batch_size"], "time": time.time()}})
        if (target is not None and m["exact_accuracy"] >= target) or train_s >= budget_s or done:
            return
        next_eval = min(budget_s, (math.floor(train_s / every) + 1) * every)


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def cosine_schedule_with_warmup_lr_lambda(current_step: int, *, base_lr: float, num_warmup_steps: int,
                                          num_training_steps: int, min_ratio: float = 0.0, num_cycles: float = 0.5):
    """Verbatim from both references' pretrain.py (which cannot be imported without wandb, hydra, adam_atan2)."""
    if current_step < num_warmup_steps:
        return base_lr * float(current_step) / float(max(1, num_warmup_steps))
    progress = float(current_step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    return base_lr * (min_ratio + max(0.0, (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0
                                                                                     * progress))))


def _adam_atan2_class():
    import torch

    class AdamATan2(torch.optim.Optimizer):
        """imoneoi/adam-atan2 (the package both references import), per element, from t = 1:
            p <- p (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
            p <- p - a lr / (1 - b1^t) * atan2(m, b sqrt(v) / sqrt(1 - b2^t))      with a = b = 1."""

        def __init__(self, params, lr=1e-3, betas=(0.9, 0.99), weight_decay=1e-2, a=1.0, b=1.0):
            super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay, a=a, b=b))

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if not state:
                        state["step"] = 0
                        state["exp_avg"] = torch.zeros_like(p)
                        state["exp_avg_sq"] = torch.zeros_like(p)
                    state["step"] += 1
                    t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                    p.mul_(1 - lr * wd)
                    m.lerp_(p.grad, 1 - b1)
                    v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                    denom = v.sqrt().mul_(group["b"] / math.sqrt(1 - b2 ** t))
                    p.add_(torch.atan2(m, denom), alpha=-group["a"] * lr / (1 - b1 ** t))

    return AdamATan2


def AdamATan2(*args, **kwargs):  # noqa: N802 (named as the class it stands for)
    return _adam_atan2_class()(*args, **kwargs)


# -- the driver (runs in hrm's venv) --------------------------------------------------------------------------------
def run_reference(kind: str, args: argparse.Namespace, cfg: dict, eval_root: Path, n_eval: int, out: Path,
                  label: str) -> dict:
    """One reference arm: the worker's points written as a curve file (the format of `hrm bench learn`)."""
    from hrm_engine.bench import learn as learn_bench

    reference = args.hrm_reference if kind == "hrm" else args.trm_reference
    data, eval_data = args.data, eval_root
    if kind == "trm":  # TRM's loader wants one more field in dataset.json
        data = trm_view(args.data, args.out_dir / ".trm-view" / "data")
        eval_data = trm_view(eval_root, args.out_dir / ".trm-view" / "eval")
    spec = {"kind": kind, "reference": str(reference), "data": str(data), "eval_data": str(eval_data),
            "threads": args.torch_threads, "config": cfg, "budget_s": args.budget * 60.0, "eval_every_s": args.eval_every, "target": args.target}
    spec_path = out.with_suffix(".spec.json")
    spec_path.write_text(json.dumps(spec))
    curve = learn_bench.new_curve(label, f"reference-{kind}", cfg,
                                  learn_bench.data_info(args.data, eval_root, n_eval), target=args.target,
                                  budget_s=args.budget * 60.0, eval_every_s=args.eval_every,
                                  global_batch_size=cfg["global_batch_size"], device="cpu",
                                  reference=_git_head(reference))
    tokens_per_step = cfg["global_batch_size"] * curve["data"]["seq_len"]
    proc = subprocess.Popen([args.torch_python, __file__, "--worker", str(spec_path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            event = json.loads(line)
            if event["event"] == "start":
                curve.update(parameters=event["parameters"], total_steps=event["total_steps"],
                             blas={"torch": event["torch"], "torch_threads": event["threads"]},
                             ema=event["ema"], model_config=event["model_config"])
                print(f"  {label}: {event['parameters']:,} parameters, torch {event['torch']}, "
                      f"{event['threads']} threads", flush=True)
            else:
                p = event["point"]
                learn_bench.add_point(curve, p, tokens_per_step)
                print(f"  {label}: {p['train_seconds']:7.1f} s  step {p['step']:>6}  exact {p['exact_accuracy']:.4f}"
                      f"  token acc {p['accuracy']:.4f}  eval {p['eval_seconds']:.1f} s", flush=True)
                _stop(curve, args, cfg)
                learn_bench.write_curve(out, curve)
    finally:
        code = proc.wait()
        spec_path.unlink(missing_ok=True)
    if code != 0:
        raise SystemExit(f"error: the {kind} reference worker failed (exit {code}); its error is above")
    return curve


def trm_view(src: Path, dest: Path) -> Path:
    """The dataset as TinyRecursiveModels reads it: the same arrays (linked, not copied), and dataset.json with
    `total_puzzles`, a field TRM's PuzzleDatasetMetadata requires and sapientinc/HRM's format does not have."""
    import numpy as np

    for split in ("train", "test"):
        meta_path = src / split / "dataset.json"
        if not meta_path.is_file():
            continue
        folder = dest / split
        folder.mkdir(parents=True, exist_ok=True)
        meta = json.loads(meta_path.read_text())
        for array in (src / split).glob("*.npy"):
            link = folder / array.name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(array.resolve())
        meta["total_puzzles"] = sum(int(np.load(src / split / f"{s}__puzzle_identifiers.npy").shape[0])
                                    for s in meta["sets"])
        (folder / "dataset.json").write_text(json.dumps(meta))
    return dest


def _stop(curve: dict, args: argparse.Namespace, cfg: dict) -> None:
    last = curve["points"][-1]
    curve["stop_reason"] = ("target" if args.target is not None and last["exact_accuracy"] >= args.target
                            else "budget" if last["train_seconds"] >= args.budget * 60.0
                            else "steps" if last["step"] >= curve.get("total_steps", math.inf) else None)


def run_hrm(preset: str, args: argparse.Namespace, out: Path, label: str, overrides: list[str]) -> dict:
    """One hrm arm: `hrm bench learn` itself, as a subprocess (its output shown as it goes)."""
    from hrm_engine.bench import learn as learn_bench

    hrm = Path(sys.executable).with_name("hrm")
    cmd = [str(hrm), "bench", "learn", str(args.data), "--config", preset, "--budget", str(args.budget),
           "--eval-every", str(args.eval_every), "--out", str(out), "--label", label, *overrides]
    if args.eval_examples:
        cmd += ["--eval-examples", str(args.eval_examples)]
    if args.target is not None:
        cmd += ["--target", str(args.target)]
    code = subprocess.call(cmd)
    if code != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed (exit {code})")
    return learn_bench.read_curve(out)


def run_group(group: list[str], cores: list[int], r: int, args: argparse.Namespace) -> dict[str, dict]:
    """Arms at once, each a child run of this script pinned to one core with one thread; their curves.

    The children share the machine's memory and caches but no core, and start together, so whatever else
    runs on the machine hits the arms of a group alike. Their output goes to `<out-dir>/.arms/<arm>-r<r>.log`.
    """
    from hrm_engine.bench import learn as learn_bench

    base = [sys.executable, __file__, "--data", str(args.data), "--torch-python", args.torch_python,
            "--torch-threads", "1", "--hrm-config", args.hrm_config, "--trm-config", args.trm_config,
            "--new-config", args.new_config, "--budget", str(args.budget), "--eval-every", str(args.eval_every),
            "--levels", args.levels]
    for flag, value in (("--hrm-reference", args.hrm_reference), ("--trm-reference", args.trm_reference),
                        ("--eval-examples", args.eval_examples), ("--target", args.target)):
        if value is not None:
            base += [flag, str(value)]
    for kv in [*args.set, "cpu_streams=1"]:
        base += ["--set", kv]
    for kv in [*args.new_set, "cpu_streams=1"]:
        base += ["--new-set", kv]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = {}
    for arm, core in zip(group, cores):
        folder = args.out_dir / ".arms" / f"{arm}-r{r}"
        log = folder.with_suffix(".log")
        folder.parent.mkdir(parents=True, exist_ok=True)
        print(f"round {r}: {ARMS[arm]} on core {core} for {args.budget:g} min of training -> "
              f"{args.out_dir / f'{arm}-r{r}.json'} (log {log})", flush=True)
        with log.open("w") as fh:
            procs[arm] = (subprocess.Popen([*base, "--arms", arm, "--out-dir", str(folder)], stdout=fh,
                                           stderr=subprocess.STDOUT, env=env,
                                           preexec_fn=lambda c=core: os.sched_setaffinity(0, {c})), folder, log)
    curves = {}
    for arm, (proc, folder, log) in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"error: the {arm} arm failed (exit {proc.returncode}); see {log}")
        out = args.out_dir / f"{arm}-r{r}.json"
        curve = learn_bench.read_curve(folder / f"{arm}-r1.json")
        curve["label"] = ARMS[arm] if args.rounds == 1 else f"{ARMS[arm]} r{r}"
        curve["pinned_core"], curve["parallel_arms"] = cores[group.index(arm)], len(group)
        learn_bench.write_curve(out, curve)
        curves[arm] = curve
        print(f"  {ARMS[arm]}: {len(curve['points'])} evaluations, best exact "
              f"{max((p['exact_accuracy'] for p in curve['points']), default=0.0):.4f}", flush=True)
    return curves


def _git_head(path: Path) -> str:
    """Which checkout of the reference ran (its commit, if it is a git work tree)."""
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return f"{path} @ {out.stdout.strip()}" if out.returncode == 0 else str(path)
    except OSError:
        return str(path)


def median_reached(values: list[float | None]) -> float | None:
    """The median over rounds of the time (or step) to a level, a round that never reached it counting as
    later than any that did (not left out, which would favour the rounds that got there); None where the
    median itself is not reached."""
    med = statistics.median(math.inf if v is None else float(v) for v in values)
    return None if math.isinf(med) else med


def summarise(curves: dict[str, list[dict]], levels: list[float]) -> dict:
    """Per arm: median (over rounds) training seconds to each level, best accuracy, steps/s, tokens/s."""
    from hrm_engine.bench.learn import time_to_levels

    table = {}
    for arm, runs in curves.items():
        reached = [time_to_levels(c, levels) for c in runs]
        row = {"label": ARMS.get(arm, runs[0]["label"]), "rounds": len(runs), "seconds_to": {}, "step_to": {}}
        for level in levels:
            hits = [r[level] for r in reached]
            for key, out in (("train_seconds", row["seconds_to"]), ("step", row["step_to"])):
                out[str(level)] = median_reached([None if h is None else h[key] for h in hits])
        row["best_exact_accuracy"] = statistics.median(max((p["exact_accuracy"] for p in c["points"]), default=0.0)
                                                       for c in runs)
        row["steps_per_s"] = statistics.median(c["steps_per_s"] or 0.0 for c in runs)
        row["tokens_per_s"] = statistics.median(c["tokens_per_s"] or 0.0 for c in runs)
        row["train_seconds"] = statistics.median(c["train_seconds"] for c in runs)
        row["eval_seconds"] = statistics.median(c["eval_seconds"] for c in runs)
        row["parameters"] = runs[0].get("parameters")
        table[arm] = row
    return table


def print_table(table: dict, levels: list[float]) -> None:
    def fmt(s):
        return "-" if s is None else f"{s / 60:.1f}m" if s >= 600 else f"{s:.0f}s"

    head = f"{'arm':<44} {'params':>9} {'steps/s':>8} {'tok/s':>7} {'best':>6} " + " ".join(f"{lv:>6}" for lv in levels)
    print("training time to each held-out exact accuracy (median over rounds; evaluation time excluded)")
    print(head)
    for row in table.values():
        print(f"{row['label'][:44]:<44} {row['parameters'] or 0:>9,} {row['steps_per_s']:>8.2f} "
              f"{row['tokens_per_s']:>7.0f} {row['best_exact_accuracy']:>6.3f} "
              + " ".join(f"{fmt(row['seconds_to'][str(lv)]):>6}" for lv in levels))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help="dataset folder (hrm data build), read by every arm")
    p.add_argument("--hrm-reference", type=Path, help="a checkout of sapientinc/HRM")
    p.add_argument("--trm-reference", type=Path, help="a checkout of SamsungSAILMontreal/TinyRecursiveModels")
    p.add_argument("--torch-python", default="python3", help="a Python with torch, pydantic, numpy, einops, argdantic")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch.set_num_threads for the reference arms (default: torch's, one per core). On a "
                        "machine shared with other work, 1 avoids OpenMP threads waiting on each other")
    p.add_argument("--hrm-config", default="hrm-tiny", help="preset of the HRM arms (ours and the reference's)")
    p.add_argument("--trm-config", default="trm-tiny", help="preset of the TRM arms")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every arm but hrm-new (repeat), e.g. --set global_batch_size=64 "
                        "--set epochs=5000")
    p.add_argument("--new-config", default="trm-sudoku9-fast",
                   help="preset of the hrm-new arm: hrm's own recipe (depth stages, its schedule), which the "
                        "reference arms do not share; --set does not apply to it")
    p.add_argument("--new-set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for the hrm-new arm only (repeat), e.g. for an ablation "
                        "--new-set cycles_schedule=null")
    p.add_argument("--budget", type=float, default=30.0, help="training minutes per arm")
    p.add_argument("--eval-every", type=float, default=60.0, help="training seconds between evaluations")
    p.add_argument("--eval-examples", type=int, default=None, help="evaluate on the first N test examples")
    p.add_argument("--target", type=float, default=None, help="stop an arm at this held-out exact accuracy")
    p.add_argument("--rounds", type=int, default=1, help="repeat the arms, alternating their order")
    p.add_argument("--parallel", type=int, default=1,
                   help="run this many arms at once, each pinned to its own core with one thread (torch, BLAS, "
                        "hrm cpu_streams=1), in groups taken in --arms order; 1 (default): one arm at a time on "
                        "every core")
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, from {', '.join(ARMS)}")
    p.add_argument("--levels", default=",".join(str(x) for x in LEVELS), help="accuracy levels to report")
    p.add_argument("--out-dir", type=Path, default=Path("runs/learn/side-by-side"))
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = p.parse_args(argv)
    if args.worker:
        torch_worker(json.loads(Path(args.worker).read_text()))
        return 0
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    problems = [f"unknown arm {a!r} (choose from {', '.join(ARMS)})" for a in arms if a not in ARMS]
    if args.data is None or not (args.data / "train" / "dataset.json").is_file():
        problems.append(f"--data {args.data} is not a dataset folder; build one with `hrm data build`")
    if "ref-hrm" in arms and not (args.hrm_reference and (args.hrm_reference / "models/hrm/hrm_act_v1.py").is_file()):
        problems.append(f"--hrm-reference {args.hrm_reference} is not a sapientinc/HRM checkout")
    if "ref-trm" in arms and not (args.trm_reference and
                                  (args.trm_reference / "models/recursive_reasoning/trm.py").is_file()):
        problems.append(f"--trm-reference {args.trm_reference} is not a TinyRecursiveModels checkout")
    if problems:
        print(f"error: {problems[0]}", file=sys.stderr)
        return 2
    from hrm_engine.config_ranges import resolve_train_config
    from hrm_engine.errors import HRMError
    from hrm_engine.bench.learn import check_settings, eval_subset

    try:
        check_settings(args.target, args.budget, args.eval_every, args.eval_examples)
        configs = {kind: resolve_train_config(preset, None, args.set)
                   for kind, preset in (("hrm", args.hrm_config), ("trm", args.trm_config))}
        configs["new"] = resolve_train_config(args.new_config, None, args.new_set)
    except HRMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from hrm_engine.bench.learn import split_examples

    args.out_dir.mkdir(parents=True, exist_ok=True)
    total = split_examples(args.data, "test")
    eval_root, n_eval = args.data, total
    if args.eval_examples and args.eval_examples < total:  # the subset hrm bench learn makes, for the references
        eval_root, n_eval = eval_subset(args.data, args.eval_examples, args.out_dir / ".eval-subset")
    levels = [float(x) for x in args.levels.split(",") if x]
    curves: dict[str, list[dict]] = {a: [] for a in arms}
    if args.parallel > 1:
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if len(cores) < args.parallel:
            print(f"error: --parallel {args.parallel} needs as many usable cores; this process has {len(cores)}",
                  file=sys.stderr)
            return 2
        for r in range(1, max(1, args.rounds) + 1):
            for g in range(0, len(arms), args.parallel):
                group = arms[g:g + args.parallel]
                pinned = cores[:len(group)] if r % 2 else cores[:len(group)][::-1]  # swap cores every round
                for arm, curve in run_group(group, pinned, r, args).items():
                    curves[arm].append(curve)
    else:
        for r in range(1, max(1, args.rounds) + 1):
            order = arms if r % 2 else arms[::-1]
            for arm in order:
                out = args.out_dir / f"{arm}-r{r}.json"
                label = ARMS[arm] if args.rounds == 1 else f"{ARMS[arm]} r{r}"
                print(f"round {r}: {ARMS[arm]} for {args.budget:g} min of training -> {out}  "
                      f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
                kind = arm.split("-")[1]
                if arm.startswith("ref-"):
                    curves[arm].append(run_reference(kind, args, configs[kind], eval_root, n_eval, out, label))
                elif arm == "hrm-new":
                    curves[arm].append(run_hrm(args.new_config, args, out, label, args.new_set))
                else:
                    preset = args.hrm_config if kind == "hrm" else args.trm_config
                    curves[arm].append(run_hrm(preset, args, out, label, args.set))
    table = summarise(curves, levels)
    result = {"data": str(args.data), "budget_min": args.budget, "eval_every_s": args.eval_every,
              "eval_examples": n_eval, "rounds": args.rounds, "arms": table,
              "curves": {a: [str(args.out_dir / f"{a}-r{r}.json") for r in range(1, len(c) + 1)]
                         for a, c in curves.items()}}
    (args.out_dir / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(table, levels)
        print(f"curves and summary.json in {args.out_dir}; plot them: hrm dashboard --learn {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
