"""`hrm agent tune`: LoRA fine-tuning of the local model on traces of the agent's own protocol.

The pieces are mlx-lm's own: `linear_to_lora_layers` turns the last `layers` blocks' linear layers into
LoRA layers, `ChatDataset` (prompt masked) tokenizes the chat examples with the model's chat template,
`default_loss` is the masked cross-entropy, and the adapter folder is the one `mlx_lm.load(...,
adapter_path=...)` reads (adapter_config.json + adapters.safetensors). The loop around them is ours,
because `mlx_lm.tuner.train` cannot resume (it saves neither the optimizer state nor the step), draws
batches in its own random order (the curriculum schedule needs ours) and prints its own UI. The step is
the same compiled function as mlx-lm's.

An adapter lives in `cache_dir()/adapters/NAME/` with `hrm-adapter.json` (base model, data recipe,
steps, schedule, created) beside mlx-lm's files. Every `save_every` steps (and on SIGINT/SIGTERM) the
weights, the optimizer state and the step go to a fresh `ckpt-STEP` folder, written under a temporary
name and renamed, then the manifest points at it: a run killed at any moment resumes from the last
complete checkpoint with the same batches, so an interrupted run ends where an uninterrupted one would.
With `snapshot_every`, the adapter weights of every such step are also kept for good in
`snapshots/step-STEP/` (a loadable adapter folder, `--adapter` takes its path): the points of a learning
curve against examples seen, which the E3 experiment (agent/bench/curriculum_experiment.py) evaluates.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import random
import re
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from hrm_agent.backends.adapters import DEFAULT_NAME, MANIFEST, adapters_dir, read_manifest
from hrm_agent.errors import AgentError
from hrm_datasets.files import write_text_atomic

SCHEDULES = ("mixed", "curriculum")
ROLES = ("planner", "solver", "critic", "synthesizer", "flat")
BUCKET = 8  # batches regrouped by length together (see example_order)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TuneError(AgentError):
    """Options or an adapter folder that cannot be used (exit 2, one line)."""


class TuneInterrupted(Exception):
    """SIGINT/SIGTERM: the checkpoint is saved; `summary` says where, `signal` which one."""

    def __init__(self, summary: dict[str, Any], signame: str) -> None:
        super().__init__(summary)
        self.summary, self.signal = summary, signame


@dataclass
class TuneOptions:
    """Everything that decides the adapter; stored in the manifest so `--resume NAME` needs nothing else."""

    name: str = DEFAULT_NAME
    steps: int = 300
    examples: int = 400  # generated tasks; each gives one chat example per model call of its trace
    batch_size: int = 4
    lr: float = 2e-4
    rank: int = 8
    layers: int = 8  # transformer blocks (counted from the top) that get LoRA layers
    scale: float = 20.0  # mlx-lm's LoRA scale (alpha / rank)
    schedule: str = "mixed"
    seed: int = 0
    sources: tuple[str, ...] = ("math", "chains", "code", "plain")
    roles: tuple[str, ...] = ROLES  # which model calls of each trace become training examples
    save_every: int = 25
    snapshot_every: int | None = None  # keep the adapter of every N-th step in snapshots/ (None: none)
    max_seq_length: int = 1024
    warmup_steps: int = 10
    model: str | None = None  # a local mlx-lm model folder; None: the bundled default

    def check(self) -> None:
        """Refuse options that cannot train, naming the option and a value that works."""
        from hrm_agent.tune.data import SOURCES

        if not _NAME_RE.match(self.name or ""):
            raise TuneError(f"--name {self.name!r}: use letters, digits, '.', '_' and '-' (at most 64), "
                            f"e.g. --name {DEFAULT_NAME}")
        for opt, value, low in (("--steps", self.steps, 1), ("--examples", self.examples, 1),
                                ("--batch-size", self.batch_size, 1), ("--rank", self.rank, 1),
                                ("--layers", self.layers, 1), ("--save-every", self.save_every, 1)):
            if not isinstance(value, int) or value < low:
                raise TuneError(f"{opt} must be an integer >= {low}, got {value!r}")
        if self.snapshot_every is not None and (not isinstance(self.snapshot_every, int) or self.snapshot_every < 1):
            raise TuneError(f"--snapshot-every must be an integer >= 1, got {self.snapshot_every!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and 0 < self.lr < 1):
            raise TuneError(f"--lr must be a number between 0 and 1 (e.g. 2e-4), got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise TuneError(f"--schedule {self.schedule!r}: choose curriculum or mixed")
        bad = [s for s in self.sources if s not in SOURCES]
        if bad or not self.sources:
            raise TuneError(f"--data {','.join(self.sources)!r}: choose from {', '.join(SOURCES)} (comma-separated)")
        bad = [r for r in self.roles if r not in ROLES]
        if bad or not self.roles:
            raise TuneError(f"--roles {','.join(self.roles)!r}: choose from {', '.join(ROLES)} (comma-separated)")
        if self.schedule == "curriculum" and "chains" not in self.sources and "math" not in self.sources:
            raise TuneError("--schedule curriculum needs tasks with 2 to 4 steps (--data chains or math)")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sources"] = list(self.sources)
        out["roles"] = list(self.roles)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuneOptions:
        kept = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("sources", "roles"):
            if key in kept:
                kept[key] = tuple(kept[key])
        return cls(**kept)


# -- the schedules -------------------------------------------------------------------------------------------

def stage_of(steps: int) -> int:
    """Curriculum stage of an example: 2, 3 or 4 (one-step tasks go with the 2-step ones)."""
    return min(max(int(steps), 2), 4)


def example_order(steps_per_example: list[int], n_steps: int, batch_size: int, schedule: str,
                  seed: int, lengths: list[int] | None = None) -> list[list[int]]:
    """The batches (lists of example indices) of the whole run, fixed by the seed.

    mixed: the examples shuffled, epoch after epoch. curriculum: the same examples in stages of 2, 3 and
    4 steps (each stage shuffled within, repeated to fill its share of the run); every stage's share of
    the optimizer steps is its share of the examples, so both schedules see every example equally often
    and run the same number of steps. With `lengths` (tokens), each run of BUCKET batches is regrouped by
    length, as mlx-lm's iterate_batches does, so little of a batch is padding (about a third less work
    on this data); the order of stages is kept.
    """
    if schedule not in SCHEDULES:
        raise TuneError(f"unknown schedule {schedule!r}; choose curriculum or mixed")
    n = len(steps_per_example)
    if n < batch_size:
        raise TuneError(f"{n} training examples are fewer than --batch-size {batch_size}; raise --examples")
    rng = random.Random(f"hrm-tune-order:{seed}:{schedule}")
    total = n_steps * batch_size

    def fill(indices: list[int], count: int) -> list[int]:
        out: list[int] = []
        while len(out) < count:
            perm = list(indices)
            rng.shuffle(perm)
            out.extend(perm)
        return bucket(out[:count])

    def bucket(flat: list[int]) -> list[int]:
        if lengths is None:
            return flat
        out: list[int] = []
        window = batch_size * BUCKET
        for i in range(0, len(flat), window):
            part = sorted(flat[i:i + window], key=lambda j: lengths[j])
            batches = [part[k:k + batch_size] for k in range(0, len(part), batch_size)]
            full = [b for b in batches if len(b) == batch_size]
            rng.shuffle(full)
            out.extend(j for b in full + [b for b in batches if len(b) < batch_size] for j in b)
        return out

    if schedule == "mixed":
        flat = fill(list(range(n)), total)
    else:
        stages: dict[int, list[int]] = {}
        for i, s in enumerate(steps_per_example):
            stages.setdefault(stage_of(s), []).append(i)
        keys = sorted(stages)
        flat, used = [], 0
        for k, key in enumerate(keys):
            share = total - used if k == len(keys) - 1 else round(total * len(stages[key]) / n)
            flat.extend(fill(stages[key], share))
            used += share
    return [flat[i:i + batch_size] for i in range(0, total, batch_size)]


# -- data --------------------------------------------------------------------------------------------------

def training_examples(opts: TuneOptions, prompts_name: str = "default") -> list[Any]:
    from hrm_agent.prompts import load_prompts
    from hrm_agent.tune.data import build_examples, generate

    tasks = generate(opts.examples, seed=opts.seed, sources=tuple(opts.sources))
    return [ex for ex in build_examples(tasks, load_prompts(prompts_name)) if ex.role in opts.roles]


# -- the run -------------------------------------------------------------------------------------------------

@dataclass
class StepInfo:
    step: int
    total: int
    loss: float
    tokens_per_s: float
    elapsed_s: float
    start_step: int = 0


@dataclass
class _Run:
    folder: Path
    opts: TuneOptions
    manifest: dict[str, Any] = field(default_factory=dict)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _prepare(opts: TuneOptions, *, resume: bool, force: bool, root: Path | None) -> tuple[_Run, int]:
    """The adapter folder and the step to start from (0, or the last checkpoint's)."""
    folder = (root or adapters_dir()) / opts.name
    man = read_manifest(folder) if folder.exists() else None
    if folder.exists() and force:
        shutil.rmtree(folder)
        man = None
    if man is not None:
        saved = TuneOptions.from_dict(man.get("options") or {})
        if resume:
            opts = saved  # --resume NAME: the stored options, whatever else was typed
        elif saved.to_dict() != opts.to_dict():
            diff = [k for k, v in opts.to_dict().items() if saved.to_dict().get(k) != v]
            raise TuneError(f"adapter {opts.name!r} exists with other options ({', '.join(diff)}); continue it "
                            f"with --resume {opts.name}, choose another --name, or start over with --force")
        if man.get("complete"):
            raise TuneError(f"adapter {opts.name!r} is already trained ({man.get('steps_done')} steps) in {folder}; "
                            f"use it with --adapter {opts.name}, or retrain with --force")
        ckpt = man.get("checkpoint")
        start = int(man.get("steps_done") or 0) if ckpt and (folder / ckpt).is_dir() else 0
        return _Run(folder, opts, man), start
    if resume:
        raise TuneError(f"nothing to resume: no adapter {opts.name!r} in {folder.parent}; start it without --resume")
    if folder.exists() and any(folder.iterdir()):
        raise TuneError(f"{folder} exists and is not an hrm adapter; choose another --name or remove it (--force)")
    return _Run(folder, opts), 0


def _write_json(path: Path, data: Any) -> None:
    from hrm_engine.run.directory import write_json_atomic

    write_json_atomic(path, data)


def _save_checkpoint(run: _Run, model: Any, optimizer: Any, step: int, last_loss: float | None,
                     complete: bool) -> None:
    """Weights, optimizer state and step into ckpt-STEP (temp name, then rename), then the manifest."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    weights = dict(tree_flatten(model.trainable_parameters()))
    tmp = run.folder / f".ckpt-{step:07d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mx.save_safetensors(str(tmp / "adapters.safetensors"), weights)
    mx.save_safetensors(str(tmp / "optimizer.safetensors"), dict(tree_flatten(optimizer.state)))
    _write_json(tmp / "progress.json", {"step": step})
    final = run.folder / f"ckpt-{step:07d}"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    top = run.folder / ".adapters.safetensors.tmp"  # mlx-lm's loader reads the top-level file
    shutil.copyfile(final / "adapters.safetensors", top)
    os.replace(top, run.folder / "adapters.safetensors")
    run.manifest.update(steps_done=step, checkpoint=final.name, complete=complete, updated=_now(),
                        last_loss=None if last_loss is None else round(float(last_loss), 4))
    _write_json(run.folder / MANIFEST, run.manifest)
    for old in run.folder.glob("ckpt-*"):
        if old.name != final.name:
            shutil.rmtree(old, ignore_errors=True)


def _save_snapshot(run: _Run, model: Any, step: int) -> None:
    """The adapter as it is after `step` into snapshots/step-STEP/, a folder mlx-lm loads (temp name, rename)."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    root = run.folder / "snapshots"
    tmp = root / f".step-{step:07d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mx.save_safetensors(str(tmp / "adapters.safetensors"), dict(tree_flatten(model.trainable_parameters())))
    shutil.copyfile(run.folder / "adapter_config.json", tmp / "adapter_config.json")
    _write_json(tmp / "snapshot.json", {"adapter": run.opts.name, "step": step,
                                        "examples_seen": step * run.opts.batch_size,
                                        "schedule": run.opts.schedule, "steps": run.opts.steps})
    final = root / f"step-{step:07d}"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def _load_checkpoint(run: _Run, model: Any, optimizer: Any) -> None:
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    ckpt = run.folder / run.manifest["checkpoint"]
    model.load_weights(list(mx.load(str(ckpt / "adapters.safetensors")).items()), strict=False)
    optimizer.init(model.trainable_parameters())
    optimizer.state = tree_unflatten(list(mx.load(str(ckpt / "optimizer.safetensors")).items()))


def _batch_arrays(dataset: Any, indices: list[int], max_len: int) -> tuple[Any, Any]:
    """Pad like mlx-lm's iterate_batches (to 1 + a multiple of 32); lengths are (prompt offset, length)."""
    import mlx.core as mx
    import numpy as np

    items = [dataset[i] for i in indices]
    lengths = [min(len(tokens), max_len) for tokens, _ in items]
    width = min(1 + 32 * ((max(lengths) + 31) // 32), max_len)
    arr = np.zeros((len(items), width), np.int32)
    for j, (tokens, _offset) in enumerate(items):
        arr[j, :lengths[j]] = tokens[:lengths[j]]
    return mx.array(arr), mx.array([[offset, length] for (_t, offset), length in zip(items, lengths)])


def _base_model_path(opts: TuneOptions, progress: Callable[[str], None] | None) -> Path:
    from hrm_agent.backends import local_model

    if opts.model is None:
        return local_model.default_model_path(progress=progress)
    path = Path(opts.model).expanduser()
    if not (path / "config.json").is_file():
        raise TuneError(f"--model {opts.model}: not an mlx-lm model folder (no config.json); omit --model for the "
                        f"bundled default")
    return path.resolve()


def tune(opts: TuneOptions, *, resume: bool = False, force: bool = False, root: Path | None = None,
         on_start: Callable[[dict[str, Any]], None] | None = None,
         on_step: Callable[[StepInfo], None] | None = None,
         note: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train (or continue) the adapter `opts.name`; returns the summary also stored as the manifest."""
    opts.check()
    run, start = _prepare(opts, resume=resume, force=force, root=root)
    opts = run.opts
    import hrm_engine.cpu

    hrm_engine.cpu.setup()  # before MLX is first imported (by the steps below)
    base = _base_model_path(opts, note)
    examples = training_examples(opts)
    model, tokenizer, lora = _lora_model(opts, base)
    dataset, order = _dataset_and_order(opts, examples, tokenizer)
    optimizer = _optimizer(opts)
    run.folder.mkdir(parents=True, exist_ok=True)
    if start == 0:
        _write_new_run(run, opts, base, examples, lora, model)
    else:
        _load_checkpoint(run, model, optimizer)
        if note:
            note(f"resuming {opts.name} from step {start} of {opts.steps}")
    stop: dict[str, str] = {}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["signal"] = signal.Signals(signum).name

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    if on_start:
        on_start({"name": opts.name, "folder": str(run.folder), "start_step": start, "steps": opts.steps,
                  "chat_examples": len(examples), "tasks": opts.examples, "schedule": opts.schedule,
                  "base_model": base.name, "trainable_parameters": run.manifest.get("trainable_parameters")})
    try:
        done = _train(run, model, optimizer, dataset, order, start, stop, on_step)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    summary = {**run.manifest, "folder": str(run.folder)}
    if done < opts.steps:
        raise TuneInterrupted(summary, stop.get("signal", "SIGINT"))
    return summary


def _lora_model(opts: TuneOptions, base: Path) -> tuple[Any, Any, dict[str, Any]]:
    """The base model, frozen, with its last `opts.layers` blocks' linear layers turned into LoRA layers
    (seeded: the same seed, the same adapter); returns (model, tokenizer, LoRA parameters)."""
    import mlx.core as mx
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, tokenizer = load(str(base))
    n_layers = len(model.layers)
    if opts.layers > n_layers:
        raise TuneError(f"--layers {opts.layers}: the model has only {n_layers} blocks")
    model.freeze()
    lora = {"rank": opts.rank, "scale": opts.scale, "dropout": 0.0}
    mx.random.seed(opts.seed)  # LoRA's A matrices start random: the same seed, the same adapter
    linear_to_lora_layers(model, opts.layers, lora)
    return model, tokenizer, lora


def _dataset_and_order(opts: TuneOptions, examples: list[Any],
                       tokenizer: Any) -> tuple[Any, list[list[int]]]:
    """The tokenized chat examples (prompt masked) and the examples of each step (example_order)."""
    from mlx_lm.tuner.datasets import CacheDataset, ChatDataset

    dataset = CacheDataset(ChatDataset([ex.to_dict() for ex in examples], tokenizer, mask_prompt=True))
    order = example_order([ex.steps for ex in examples], opts.steps, opts.batch_size, opts.schedule, opts.seed,
                          lengths=[len(dataset[i][0]) for i in range(len(dataset))])
    return dataset, order


def _optimizer(opts: TuneOptions) -> Any:
    """Adam with a linear warm-up from lr/10 to lr, then a cosine decay to lr/10."""
    import mlx.optimizers as optim

    warm = min(opts.warmup_steps, max(opts.steps - 1, 0))
    decay = optim.cosine_decay(opts.lr, max(opts.steps - warm, 1), opts.lr * 0.1)
    schedule = optim.join_schedules([optim.linear_schedule(opts.lr * 0.1, opts.lr, warm), decay], [warm]) \
        if warm else decay
    return optim.Adam(learning_rate=schedule)


def _write_new_run(run: _Run, opts: TuneOptions, base: Path, examples: list[Any], lora: dict[str, Any],
                   model: Any) -> None:
    """A new adapter's folder: its manifest, mlx-lm's adapter_config.json and the training examples."""
    from mlx.utils import tree_flatten

    from hrm_agent.tune.data import data_recipe

    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    run.manifest = {"name": opts.name, "format": "mlx-lm lora adapter", "base_model": base.name,
                    "base_model_path": str(base), "options": opts.to_dict(),
                    "data": {**data_recipe(opts.examples, opts.seed, tuple(opts.sources)),
                             "chat_examples": len(examples),
                             "by_role": _count(ex.role for ex in examples),
                             "by_steps": _count(str(ex.steps) for ex in examples)},
                    "trainable_parameters": int(trainable), "created": _now(), "steps_done": 0,
                    "complete": False, "checkpoint": None, "train_seconds": 0.0}
    _write_json(run.folder / "adapter_config.json",
                {"fine_tune_type": "lora", "num_layers": opts.layers, "lora_parameters": lora,
                 "model": str(base)})
    # mlx_lm.lora can read it too; written whole and renamed, as every run file
    write_text_atomic(run.folder / "train.jsonl", "".join(json.dumps({"messages": ex.messages}) + "\n"
                                                          for ex in examples))
    _write_json(run.folder / MANIFEST, run.manifest)


def _train(run: _Run, model: Any, optimizer: Any, dataset: Any, order: list[list[int]], start: int,
           stop: dict[str, str], on_step: Callable[[StepInfo], None] | None) -> int:
    """Steps `start` to `opts.steps` (until a signal lands in `stop`), with snapshots and checkpoints as the
    options ask and a checkpoint at the end; returns the steps done."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm.tuner.trainer import default_loss

    opts = run.opts
    loss_value_and_grad = nn.value_and_grad(model, default_loss)
    state = [model.state, optimizer.state]

    def step_fn(batch: Any, lengths: Any) -> tuple[Any, Any]:
        (loss, toks), grad = loss_value_and_grad(model, batch, lengths)
        optimizer.update(model, grad)
        return loss, toks

    step = mx.compile(step_fn, inputs=state, outputs=state)
    model.train()
    t0 = time.monotonic()
    spent = float(run.manifest.get("train_seconds") or 0.0)
    last_loss: float | None = run.manifest.get("last_loss")
    done = start
    for it in range(start, opts.steps):
        if stop:
            break
        tic = time.monotonic()
        batch, lengths = _batch_arrays(dataset, order[it], opts.max_seq_length)
        loss, toks = step(batch, lengths)
        mx.eval(state, loss, toks)
        done = it + 1
        last_loss = float(loss.item())
        if on_step:
            on_step(StepInfo(step=done, total=opts.steps, loss=last_loss,
                             tokens_per_s=float(toks.item()) / max(time.monotonic() - tic, 1e-9),
                             elapsed_s=time.monotonic() - t0, start_step=start))
        if opts.snapshot_every and (done % opts.snapshot_every == 0 or done == opts.steps):
            _save_snapshot(run, model, done)
        if done % opts.save_every == 0 and done < opts.steps:
            run.manifest["train_seconds"] = round(spent + time.monotonic() - t0, 1)
            _save_checkpoint(run, model, optimizer, done, last_loss, complete=False)
    run.manifest["train_seconds"] = round(spent + time.monotonic() - t0, 1)
    _save_checkpoint(run, model, optimizer, done, last_loss, complete=done >= opts.steps)
    return done


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return dict(sorted(out.items()))
