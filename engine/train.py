"""Training: the compiled step, the loop, evaluation and checkpoints (the reference's pretrain.py).

`Trainer` holds the model, the optimizers and the compiled step; `run_training` names the run folder
(`run_path`), checks it, and runs `TrainingLoop`, which tells its caller what happens through a plain
`TrainingObserver` (the CLI draws progress from those events).

A step is one ACT segment on `global_batch_size` rows: reset halted rows with fresh examples,
one segment with the one-step gradient, loss / global_batch_size, Adam-atan2 on the network and
sign-SGD on the puzzle-embedding rows the batch used. The ACT carry lives across steps. All
randomness is explicit (a key per step derived from the seed and the step number), so a run
stopped and resumed produces the same losses as one that never stopped.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Callable, Protocol

import mlx.core as mx

from hrm_datasets.format import check_eval_split, load_metadata
from hrm_datasets.curriculum import CurriculumSampler
from hrm_datasets.loader import examples_per_epoch
from hrm_engine import backend
from hrm_engine.act import initial_carry, reset_halted, segment_step
from hrm_engine.run.checkpoint import (best_checkpoint, list_checkpoints, load_arrays,
                                   load_model_weights, mark_best, prune_checkpoints, save_checkpoint,
                                   update_checkpoint_state)
from hrm_engine.training.distributed import Dist
from hrm_engine.training.ema import EMA
from hrm_engine.errors import ConfigError, EngineError
from hrm_engine.losses import METRIC_KEYS, act_loss
from hrm_engine.models.base import count_parameters
from hrm_engine.models.build import new_model, uses_ema
from hrm_engine.optim import lr_schedule, network_optimizer, sparse_sign_sgd
from hrm_engine.training.prefetch import BatchPrefetcher
from hrm_engine.training.sampling import train_hints, train_sampler
from hrm_engine.training.schedule import Cycles, CyclesSchedule
from hrm_engine.run.directory import RunDir, write_json_atomic
from hrm_datasets.files import WriteError, writing

LOSS_KEYS = ("lm_loss", "q_halt_loss", "q_continue_loss")


def total_steps(config: dict[str, Any], metadata: Any) -> int:
    """The reference's T = epochs * examples per epoch / global batch, capped by max_steps."""
    steps = int(config["epochs"] * examples_per_epoch(metadata) / config["global_batch_size"])
    if config.get("max_steps"):
        steps = min(steps, int(config["max_steps"])) if steps > 0 else int(config["max_steps"])
    return max(1, steps)


def normalise_train_metrics(sums: dict[str, float], global_batch_size: int) -> dict[str, float]:
    """Losses / batch size, the rest / count (the reference's train logging)."""
    count = max(sums["count"], 1.0)
    out = {k: sums[k] / global_batch_size for k in LOSS_KEYS}
    out.update({k: sums[k] / count for k in ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps")})
    out["count"] = sums["count"]
    return out


class Trainer:
    """Model, optimizers, sampler and the compiled step for one configuration and dataset."""

    def __init__(self, config: dict[str, Any], data_root: str | Path, *, dist: Dist | None = None) -> None:
        from hrm_engine.config_ranges import check_train_config

        self.config = check_train_config(config)  # values in range before any work, whoever built the dict
        self.dist = dist or Dist()
        self.data_root = Path(data_root)
        self.metadata = load_metadata(self.data_root, "train")
        self.global_batch_size = int(config["global_batch_size"])
        self.seed = int(config["seed"])
        self.total_steps = total_steps(config, self.metadata)
        # the reference's sampler unless a curriculum is asked for; hints and depth stages: None when off
        self.sampler = train_sampler(config, self.data_root, self.total_steps, rank=self.dist.rank,
                                     world_size=self.dist.size)
        self.hints = train_hints(config, self.total_steps)
        self.cycles_schedule = CyclesSchedule.from_config(config)
        mx.random.seed(self.seed)  # deterministic initialisation
        self.model = new_model(config, self.metadata)  # HRM or TRM (arch.name), its CPU kernels and shards
        self.puzzle_lr_fn = lr_schedule(config["puzzle_emb_lr"], config["lr_warmup_steps"], self.total_steps,
                                        config["lr_min_ratio"])
        self.optimizer, self.lr_fn = network_optimizer(config, self.total_steps)  # Adam-atan2 unless `optimizer: muon`
        self.optimizer.init(self.model.trainable_parameters())
        self.ema = EMA(self.model, float(config.get("ema_rate", 0.999))) if uses_ema(config) else None
        self.step_count = 0
        self.carry: dict[str, mx.array] | None = None
        self.tokens_per_step = self.global_batch_size * self.metadata.seq_len
        self._step_fn: Callable | None = None  # compiled for the stage in `_step_cycles` (at the first launch)
        self._step_cycles: Cycles | None = None
        self._prefetch_depth = int(config.get("prefetch_batches") or 0)
        self._prefetcher: BatchPrefetcher | None = None
        self._consumed: tuple[dict[str, Any], float] | None = None  # sampler state and epoch after the last batch
        self._in_flight: dict[str, mx.array] | None = None  # metrics of the last launched step
        self.last_launch_s = 0.0

    @property
    def epoch(self) -> float:
        """Epochs consumed by the steps taken (the prefetch thread may have read further)."""
        return self._consumed[1] if self._consumed else self.sampler.epoch

    def _next_batch(self) -> dict[str, Any]:
        if self._prefetch_depth <= 0:
            return self.sampler.next_batch()
        if self._prefetcher is None:
            self._prefetcher = BatchPrefetcher(self.sampler, self._prefetch_depth)
        batch, state, epoch = self._prefetcher.get()
        self._consumed = (state, epoch)
        return batch

    def close(self) -> None:
        """Stop the prefetch thread (the sampler then reflects exactly the consumed batches)."""
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None
            if self._consumed is not None:
                self.sampler.load_state_dict(self._consumed[0])

    @property
    def num_parameters(self) -> int:
        return count_parameters(self.model)

    def apply_updates(self, grads: Any, ids: mx.array, row_grads: mx.array, puzzle_lr: mx.array) -> None:
        """Both optimizers: Adam-atan2 on the network, sign-SGD on the puzzle-embedding rows the batch used."""
        self.optimizer.update(self.model, grads)
        self.model.puzzle_emb = sparse_sign_sgd(self.model.puzzle_emb, ids, row_grads, puzzle_lr,
                                                float(self.config["puzzle_emb_weight_decay"]))

    def stage_cycles(self, step: int | None = None) -> Cycles | None:
        """(H_cycles, L_cycles) that training step `step` (default: the next) runs; None: the arch's (no schedule)."""
        if self.cycles_schedule is None:
            return None
        return self.cycles_schedule.cycles_at(self.step_count if step is None else step, self.total_steps)

    def step_fn(self) -> Callable:
        """The compiled step of the next step's stage: built again when the stage changes (one graph per depth)."""
        cycles = self.stage_cycles()
        if self._step_fn is None or cycles != self._step_cycles:
            self._step_fn = self._build_step(bool(self.config.get("compile", True)), cycles)
            self._step_cycles = cycles
        return self._step_fn

    def _build_step(self, compile_: bool, cycles: Cycles | None = None) -> Callable:
        model, opt = self.model, self.optimizer
        loss_type, gbs = model.config.loss, float(self.global_batch_size)
        dist = self.dist

        def loss_fn(params, rows, carry, key):
            model.update(params)
            new_carry, outputs = segment_step(model, carry, rows, training=True, key=key, shard=dist.shard(),
                                              cycles=cycles)
            loss, metrics = act_loss(outputs, new_carry["labels"], new_carry["halted"], new_carry["steps"], loss_type)
            return loss / gbs, (new_carry, metrics)

        grad_fn = mx.value_and_grad(loss_fn, argnums=(0, 1))

        noise = float(self.config.get("puzzle_emb_noise") or 0.0)

        def step(carry, batch, key, puzzle_lr):
            carry = reset_halted(model, carry, batch)
            ids = carry["puzzle_identifiers"]
            rows = model.puzzle_emb[ids]
            if noise > 0:  # the segment sees perturbed rows; the additive noise leaves the rows' gradient as is
                key, k_noise = mx.random.split(key)
                rows = rows + noise * mx.random.normal(rows.shape, dtype=rows.dtype, key=k_noise)
            (_, (new_carry, metrics)), (grads, row_grads) = grad_fn(model.trainable_parameters(), rows, carry, key)
            if dist.enabled:  # loss is / global batch: the sum of per-process gradients is the global one
                grads, metrics = dist.all_sum(grads), dist.all_sum(metrics)
                ids, row_grads = dist.all_gather(ids), dist.all_gather(row_grads)
            self.apply_updates(grads, ids, row_grads, puzzle_lr)
            return new_carry, metrics

        if not compile_:
            return step
        state = [model.state, opt.state]
        return partial(mx.compile, inputs=state, outputs=state)(step)

    def _local_carry(self, carry: dict[str, mx.array] | None) -> dict[str, mx.array] | None:
        """This process's rows of a saved global carry (so resuming with another process count works)."""
        if carry is None:
            return None
        rows = carry["halted"].shape[0]
        if rows != self.global_batch_size:
            return None  # saved by an older layout: start from a fresh carry (all rows halted)
        b = rows // self.dist.size
        return {k: v[self.dist.rank * b:(self.dist.rank + 1) * b] for k, v in carry.items()}

    def step_key(self, step: int) -> mx.array:
        return mx.random.key(self.seed * 1_000_003 + step)

    def launch(self) -> tuple[dict[str, mx.array], float]:
        """Start one training step without waiting for it; returns its metrics (still being computed) and lr.

        The host spends 10-25 ms a step replaying the compiled graph. Launched while the device still runs the
        previous step, that time overlaps the device's instead of adding to it (most of all on a GPU). Having
        queued step n, it waits for step n-1 to finish, so the host is never more than one step ahead.
        """
        start = time.perf_counter()
        batch = self._next_batch()
        if self.hints is not None:
            batch = self.hints.apply(batch, self.step_count, self.dist.rank, self.dist.size)
        batch = {k: mx.array(v) for k, v in batch.items()}
        if self.carry is None:
            self.carry = initial_carry(self.model, batch)
        lr_now = self.lr_fn.at(self.step_count)
        puzzle_lr = self.puzzle_lr_fn(mx.array(self.step_count))  # lazy: computed with the step
        self.carry, metrics = self.step_fn()(self.carry, batch, self.step_key(self.step_count), puzzle_lr)
        self.last_launch_s = time.perf_counter() - start  # host work: the batch and the compiled graph's replay
        if self.ema is not None:
            self.ema.update(self.model)
        mx.async_eval(self.carry, metrics, self.model.state, self.optimizer.state, self.ema_state())
        self.step_count += 1
        previous, self._in_flight = self._in_flight, metrics
        if previous is not None:
            mx.eval(previous)
        return metrics, lr_now

    def wait(self) -> None:
        """Block until every launched step has finished."""
        mx.eval(self.carry, self.model.state, self.optimizer.state, self.ema_state())
        self._in_flight = None

    def ema_state(self) -> dict[str, mx.array]:
        return self.ema.shadow if self.ema is not None else {}

    def eval_weights(self):
        """A context in which the model runs on the EMA weights (when there are any), as TRM evaluates."""
        from contextlib import nullcontext

        return self.ema.applied(self.model) if self.ema is not None else nullcontext()

    def step(self) -> dict[str, float]:
        """One training step, waited for; returns the summed metrics as floats (count, losses, accuracies...)."""
        metrics, lr_now = self.launch()
        self.wait()
        out = {k: float(v.item()) for k, v in metrics.items()}
        out["lr"] = lr_now
        return out

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        sampler_state = self._consumed[0] if self._consumed else self.sampler.state_dict()
        return {"sampler": sampler_state, "seed": self.seed, "epoch": self.epoch, "total_steps": self.total_steps,
                **self.recipe_state()}

    def recipe_state(self, step: int | None = None) -> dict[str, Any]:
        """Where the recipe options stand at `step` (default: the next step); {} with every option off.

        `cycles` and `cycles_stage` (the depth stage), `competence` (the curriculum's share of the puzzles), `hint`
        (the fraction of cells to fill shown). All are functions of the step, so a resumed run lands where it left.
        """
        step = self.step_count if step is None else step
        out: dict[str, Any] = {}
        if self.cycles_schedule is not None:
            out["cycles"] = list(self.cycles_schedule.cycles_at(step, self.total_steps))
            out["cycles_stage"] = self.cycles_schedule.stage_index(step, self.total_steps)
        if isinstance(self.sampler, CurriculumSampler):
            out["competence"] = self.sampler.allowed_groups(step) / len(self.sampler.easy_first)
        if self.hints is not None:
            out["hint"] = self.hints.fraction(step)
        return out

    def global_carry(self) -> dict[str, mx.array] | None:
        """The ACT carry of the whole global batch (gathered from every process, in rank order)."""
        if self.carry is None or not self.dist.enabled:
            return self.carry
        carry = {k: self.dist.all_gather(v) for k, v in self.carry.items()}
        mx.eval(carry)  # every process must run the collective now, not lazily on rank 0 alone
        return carry

    def save(self, run_path: Path, extra: dict[str, Any] | None = None) -> Path | None:
        """Checkpoint (every process takes part in gathering the carry; rank 0 writes)."""
        carry = self.global_carry()
        if not self.dist.is_main:
            return None
        return save_checkpoint(run_path, self.step_count, self.model, self.optimizer, carry,
                               {**self.state_dict(), **(extra or {}), "world_size": self.dist.size},
                               extra_arrays={"ema": self.ema.shadow} if self.ema is not None else None)

    def restore(self, ckpt: Path) -> dict[str, Any]:
        """Load weights, optimizer state, carry and sampler position from a checkpoint."""
        from mlx.utils import tree_unflatten

        from hrm_engine.run.run_files import read_state

        state = read_state(ckpt)  # a truncated or hand-edited state.json is one line, not a traceback
        load_model_weights(self.model, ckpt)
        opt_flat = load_arrays(ckpt, "optimizer.safetensors")
        self.optimizer.state = tree_unflatten(list(opt_flat.items()))
        self.optimizer._initialized = True
        carry_path = ckpt / "carry.safetensors"
        carry = load_arrays(ckpt, "carry.safetensors") if carry_path.is_file() else None
        self.carry = self._local_carry(carry)
        if self.ema is not None and (ckpt / "ema.safetensors").is_file():
            self.ema.load(load_arrays(ckpt, "ema.safetensors"))
        elif self.ema is not None:  # a checkpoint without an average (imported, or ema was off): start from it
            self.ema = EMA(self.model, self.ema.rate)
        self.close()
        self._consumed = None
        self.sampler.load_state_dict(state["sampler"])
        self.step_count = int(state["step"])
        self._step_fn = None  # the optimizer state is new arrays: compile again, for the stage of this step
        return state


def default_run_name(config: dict[str, Any], data_root: Path) -> str:
    return f"{config.get('name', 'run')}-{data_root.name}-{datetime.now():%Y%m%d-%H%M%S}"


def run_path(config: dict[str, Any], data_root: str | Path, resume: str | Path | None = None,
             run_name: str | None = None) -> Path:
    """The run's folder, named in this one place: `resume`, else <runs_dir>/<run_name> (by default
    <config name>-<data folder>-<time>)."""
    if resume is not None:
        return Path(resume)
    name = run_name or config.get("run_name") or default_run_name(config, Path(data_root))
    return Path(config.get("runs_dir") or "runs") / name


def resolve_run_config(preset: str | Path, user_file: str | Path | None = None, overrides: list[str] | None = None,
                       resume: str | Path | None = None) -> dict[str, Any]:
    """The training config, checked: the preset (resuming: the run's own config.yaml), then the user file and
    the overrides, every value in range (an error names where the value was set)."""
    from hrm_engine.config_ranges import resolve_train_config

    if resume is not None:
        preset = saved_config(resume)
    return resolve_train_config(preset, user_file, overrides or [])


def saved_config(run: str | Path) -> Path:
    """The config.yaml of a run to resume (refused when there is none: not a run directory)."""
    saved = Path(run) / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"cannot resume {run}: no config.yaml there; pass a runs/<name> directory")
    return saved


def check_run_folder(path: Path, config: dict[str, Any], data_root: Path, resuming: bool) -> None:
    """Resuming: a run directory trained on data of the same shapes. A new run: not one that has checkpoints."""
    if resuming:
        saved_config(path)
        check_resume_compatible(path, config, data_root)
    elif (path / "checkpoints").is_dir() and list_checkpoints(path):
        raise EngineError(f"run {path} already exists; pass --resume {path} or another --run-name")


def check_resume_compatible(run_path: Path, config: dict[str, Any], data_root: Path) -> None:
    """Refuse to resume on data whose vocabulary or sequence length differs from the run's."""
    from hrm_datasets.format import DatasetMetadata

    saved = DatasetMetadata.from_json(run_path / "dataset.json")
    now = load_metadata(data_root, "train")
    for field in ("vocab_size", "seq_len", "num_puzzle_identifiers"):
        if getattr(saved, field) != getattr(now, field):
            raise EngineError(
                f"dataset {data_root} has {field}={getattr(now, field)} but run {run_path} was trained with "
                f"{getattr(saved, field)}; resume on the same data or start a new run"
            )


@dataclass
class RunStart:
    """What a run is, as it starts (or resumes): for the caller's first line and progress bar."""

    path: Path
    device: str
    parameters: int
    total_steps: int
    step: int  # steps already taken (resumed)
    global_batch_size: int
    forward_dtype: str
    H_cycles: int
    L_cycles: int
    halt_max_steps: int


class TrainingObserver(Protocol):
    """What `run_training` tells its caller as it goes (the CLI's progress bar implements it). `started` and
    `eval_progress` reach every process, `logged` every process at each log line, `evaluated` rank 0 only."""

    def started(self, run: RunStart) -> None:
        """The run directory is ready and the first step is next."""

    def logged(self, record: dict[str, Any]) -> None:
        """A train line of metrics.jsonl (losses, accuracies, steps_per_s, tokens_per_s...)."""

    def eval_progress(self, done: int, total: int) -> None:
        """`done` of the test split's `total` examples evaluated."""

    def evaluated(self, record: dict[str, Any]) -> None:
        """An eval line of metrics.jsonl, its checkpoint saved and the best one marked."""


class Unobserved(TrainingObserver):
    """No caller watching: every event is ignored."""


class _NullRun:
    """Stands in for RunDir on ranks other than 0: they train and evaluate but write nothing."""

    info: dict[str, Any] = {}

    def __getattr__(self, _name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class TrainingInterrupted(Exception):
    """Raised after a Ctrl-C or SIGTERM has been handled (checkpoint saved); args[0] is the summary."""


def run_training(config: dict[str, Any], data_root: str | Path, *, resume: str | Path | None = None,
                 run_name: str | None = None, observer: TrainingObserver | None = None,
                 dist: Dist | None = None) -> dict[str, Any]:
    """Train `config` on `data_root` in the run folder `run_path` names; returns a summary. Writes the run
    directory as it goes (rank 0 only).

    A write that fails (disk full, read-only) raises WriteError after removing the staging and marking
    the run `failed`; SIGINT/SIGTERM save a checkpoint and raise TrainingInterrupted(summary).
    """
    data_root = Path(data_root)
    path = run_path(config, data_root, resume, run_name)
    check_run_folder(path, config, data_root, resuming=resume is not None)
    loop = TrainingLoop(config, data_root, path, observer or Unobserved(), dist or Dist())
    return loop.run(resuming=resume is not None)


class TrainingLoop:
    """One run of `run_training`, read top to bottom in `run`: prepare the run directory, take the steps
    (log, evaluate, checkpoint, stop on a signal), evaluate last, write the summary."""

    def __init__(self, config: dict[str, Any], data_root: Path, path: Path, observer: TrainingObserver,
                 dist: Dist) -> None:
        self.trainer = Trainer(config, data_root, dist=dist)
        check_eval_split(data_root, self.trainer.model.config)  # a bad test split refused now, not after training
        self.config, self.data_root, self.path, self.observer, self.dist = config, data_root, path, observer, dist
        self.run_dir = RunDir(path) if dist.is_main else _NullRun()
        self.log_interval = max(1, int(config.get("log_interval") or 10))
        self.checkpoint_interval = config.get("checkpoint_interval")
        self.keep_checkpoints = int(config.get("keep_checkpoints", 3))
        self.eval_interval = config.get("eval_interval")  # epochs
        self.eval_batch_size = int(config.get("eval_batch_size") or self.trainer.global_batch_size)
        self.best_path: Path | None = None
        self.best_metric: float | None = None
        self.last_eval: dict[str, Any] | None = None
        self.saved_step: int | None = None  # the step the last checkpoint holds
        self.stop = _StopSignals()
        self.eval_total = 0  # examples in the test split
        self.heartbeat = time.monotonic()  # the last write of run.json
        self.wall_start = self.window_start = time.perf_counter()

    def run(self, resuming: bool) -> dict[str, Any]:
        """The whole run; raises TrainingInterrupted(summary) after a signal."""
        state = self.prepare(resuming)
        self.eval_total = _split_examples(self.data_root, "test")
        self.window_start = time.perf_counter()
        self.wall_start = self.window_start - float(state.get("wall_s", 0.0))
        self.heartbeat = time.monotonic()
        status = "finished"
        try:
            with self.stop:
                try:
                    self.start()
                    if state.get("eval_pending"):  # stopped during that evaluation: run it again
                        self.evaluate()
                    self.take_steps()
                except (TrainingInterrupted, KeyboardInterrupt):
                    status = "interrupted"
                    self.save()
                summary = self.finish(status)
        except WriteError as exc:
            raise _write_failed(self.run_dir, exc, self.trainer.step_count) from None
        except Exception as exc:
            _record_crash(self.run_dir, self.trainer.step_count, exc)
            raise
        finally:
            self.trainer.close()
        if status == "interrupted":
            raise TrainingInterrupted(summary)
        return summary

    def prepare(self, resuming: bool) -> dict[str, Any]:
        """The run directory's files (rank 0), the last checkpoint restored when resuming; its state."""
        state: dict[str, Any] = {}
        try:
            if self.dist.is_main:
                self.run_dir.clean_staging()  # what a killed run left half-written; a run directory has one writer
                _copy_run_files(self.run_dir, self.config, self.data_root)
            self.dist.barrier()
            if resuming:
                ckpts = list_checkpoints(self.path)
                state = self.trainer.restore(ckpts[-1]) if ckpts else {}
                self.best_path, self.best_metric = best_checkpoint(self.path)
            # every step once: lines past the checkpoint (or all, with none) are logged again from here
            self.run_dir.truncate_metrics_after(self.trainer.step_count,
                                                drop_eval_at_step=bool(state.get("eval_pending")))
        except WriteError as exc:
            raise _write_failed(self.run_dir, exc, self.trainer.step_count) from None
        self.saved_step = self.trainer.step_count if state else None
        return state

    def start(self) -> None:
        """run.json says running; the observer hears what the run is."""
        t, arch = self.trainer, self.trainer.model.config
        for stale in ("error", "finished"):  # from the life of the run that stopped
            self.run_dir.info.pop(stale, None)
        self.run_dir.update(status="running", started=self.run_dir.info.get("started", time.time()),
                            data=str(self.data_root), total_steps=t.total_steps, step=t.step_count,
                            parameters=t.num_parameters, name=self.path.name, device=backend.device_label(),
                            signal=None)
        self.observer.started(RunStart(
            path=self.path, device=backend.device_label(), parameters=t.num_parameters, total_steps=t.total_steps,
            step=t.step_count, global_batch_size=t.global_batch_size, forward_dtype=arch.forward_dtype,
            H_cycles=arch.H_cycles, L_cycles=arch.L_cycles, halt_max_steps=arch.halt_max_steps))

    def take_steps(self) -> None:
        """Steps to total_steps: a log line every log_interval, an evaluation every eval_interval epochs (else a
        checkpoint every checkpoint_interval steps), a stop after a signal; then the last evaluation."""
        t = self.trainer
        window: list[dict[str, mx.array]] = []  # metrics of the steps since the last log, not yet read back
        next_eval_epoch = None
        if self.eval_interval:
            next_eval_epoch = (int(t.epoch // self.eval_interval) + 1) * self.eval_interval
        while t.step_count < t.total_steps:
            metrics, lr_now = t.launch()  # not waited for: read back only when logged
            window.append(metrics)
            step = t.step_count
            if step % self.log_interval == 0 or step == t.total_steps:
                self.log(window, lr_now)
                window = []
            if next_eval_epoch is not None and t.epoch >= next_eval_epoch:
                self.evaluate()
                next_eval_epoch += self.eval_interval
            elif self.checkpoint_interval and step % int(self.checkpoint_interval) == 0:
                self.save()
            if self.stop.received is not None:
                raise TrainingInterrupted
        if self.last_eval is None or self.last_eval["step"] != t.step_count:
            self.evaluate()

    def log(self, window: list[dict[str, mx.array]], lr_now: float) -> None:
        """One train line for the steps of `window`: their metrics read back, per step, and the speed."""
        t = self.trainer
        rows = mx.stack([mx.stack([m[k] for k in METRIC_KEYS]) for m in window]).tolist()
        sums = {k: sum(row[i] for row in rows) for i, k in enumerate(METRIC_KEYS)}
        steps = len(window)
        elapsed = time.perf_counter() - self.window_start
        record = {"type": "train", "step": t.step_count, "epoch": t.epoch, "lr": lr_now,
                  **normalise_train_metrics(sums, t.global_batch_size * steps),
                  "steps_per_s": steps / elapsed, "tokens_per_s": steps * t.tokens_per_step / elapsed,
                  "wall_s": time.perf_counter() - self.wall_start, "time": time.time()}
        # per-step averages of the summed metrics over the window
        record.update({k: v for k, v in normalise_train_metrics(sums, t.global_batch_size).items()
                       if k in ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps")})
        record["count"] = sums["count"] / steps
        record.update(t.recipe_state(t.step_count - 1))  # the recipe options at the window's last step (none: {})
        self.run_dir.log(record)
        self.run_dir.update(step=t.step_count, epoch=t.epoch, wall_s=record["wall_s"])
        self.heartbeat = time.monotonic()
        self.observer.logged(record)
        self.window_start = time.perf_counter()

    def save(self, extra: dict[str, Any] | None = None) -> Path | None:
        """A checkpoint at this step (once: a step already saved is not written again); rank 0's path."""
        t = self.trainer
        if self.saved_step == t.step_count:
            return self.path / "checkpoints" / f"step_{t.step_count:07d}" if self.dist.is_main else None
        ckpt = t.save(self.path, {"wall_s": time.perf_counter() - self.wall_start, **(extra or {})})
        self.saved_step = t.step_count
        if ckpt is not None:
            prune_checkpoints(self.path, self.keep_checkpoints, self.best_path)
        return ckpt

    def evaluate(self) -> dict[str, Any]:
        """Checkpoint first (a kill during a long evaluation loses no training), then evaluate the test split;
        the checkpoint records the result and may become the best."""
        from hrm_engine.evaluate import evaluate_split

        t = self.trainer
        ckpt = self.save({"eval_pending": True})
        with t.eval_weights():
            metrics, _ = evaluate_split(t.model, self.data_root, "test", self.eval_batch_size,
                                        on_batch=self.eval_progress, dist=self.dist)
        record = {"type": "eval", "split": "test", "step": t.step_count, "epoch": t.epoch,
                  **metrics, "wall_s": time.perf_counter() - self.wall_start, "time": time.time()}
        self.run_dir.log(record)
        self.last_eval = record
        if ckpt is None:  # not rank 0
            return record
        update_checkpoint_state(ckpt, eval=metrics, eval_pending=None)
        if self.best_metric is None or metrics["exact_accuracy"] >= self.best_metric:
            self.best_path, self.best_metric = ckpt, metrics["exact_accuracy"]
            mark_best(self.path, ckpt, self.best_metric)
        prune_checkpoints(self.path, self.keep_checkpoints, self.best_path)
        self.observer.evaluated(record)
        return record

    def eval_progress(self, done: int, _count: int) -> None:
        """After each evaluation batch: stop on a signal, keep run.json alive, tell the observer."""
        if self.stop.received is not None:
            raise TrainingInterrupted  # a signal mid-evaluation: stop now (the checkpoint is already saved)
        if time.monotonic() - self.heartbeat > 30:  # a long evaluation must not look like a dead run
            self.run_dir.update()
            self.heartbeat = time.monotonic()
        self.observer.eval_progress(done, self.eval_total)

    def finish(self, status: str) -> dict[str, Any]:
        """The summary, in run.json and summary.json (rank 0), the staging removed."""
        t = self.trainer
        t.close()
        summary = {"run": str(self.path), "status": status, "step": t.step_count, "total_steps": t.total_steps,
                   "parameters": t.num_parameters, "last_eval": self.last_eval,
                   "best_checkpoint": str(self.best_path) if self.best_path else None,
                   "best_exact_accuracy": self.best_metric, "signal": self.stop.name}
        self.run_dir.update(status=status, step=t.step_count, finished=time.time(), signal=self.stop.name)
        if self.dist.is_main:
            write_json_atomic(self.path / "summary.json", summary)
            self.run_dir.clean_staging()
        return summary


def save_run(trainer: Trainer, config: dict[str, Any], data_root: str | Path, path: str | Path,
             status: str, extra: dict[str, Any] | None = None, metric: float | None = None) -> Path | None:
    """A run directory from a trainer that ran outside `hrm train` (`hrm bench learn --save`): config.yaml, the
    dataset's records and one checkpoint of the current step, which `hrm eval`, `hrm solve` and `--resume`
    read as they read a training run's. `metric`, the held-out exact accuracy of these weights, marks it best."""
    run = RunDir(path)
    run.clean_staging()
    _copy_run_files(run, config, Path(data_root))
    ckpt = trainer.save(run.path, extra)
    if ckpt is not None and metric is not None:
        mark_best(run.path, ckpt, metric)
    run.update(status=status, step=trainer.step_count, total_steps=trainer.total_steps,
               parameters=trainer.num_parameters, finished=time.time())
    return ckpt


def _copy_run_files(run: RunDir, config: dict[str, Any], data_root: Path) -> None:
    """config.yaml and the dataset's records, which eval/solve/--resume read back."""
    import shutil

    run.write_config(config)
    for name in ("dataset.json",):
        with writing(run.path / name):
            shutil.copyfile(data_root / "train" / name, run.path / name)
    for name in ("build.json", "identifiers.json", "arc_transforms.json"):
        if (data_root / name).is_file():
            with writing(run.path / name):
                shutil.copyfile(data_root / name, run.path / name)


def _split_examples(data_root: Path, split: str) -> int:
    """Examples in a split, from the array headers (for the evaluation's progress and ETA)."""
    import numpy as np

    meta = load_metadata(data_root, split)
    return sum(int(np.load(data_root / split / f"{s}__inputs.npy", mmap_mode="r").shape[0]) for s in meta.sets)


def _write_failed(run: RunDir | _NullRun, exc: WriteError, step: int) -> WriteError:
    """Remove the staging, mark the run failed with the reason (where run.json can still be written)."""
    run.clean_staging()
    if run.mark_failed(str(exc), step=step):
        return exc.noted(f"run {run.path} marked failed")
    return exc


def _record_crash(run: RunDir | _NullRun, step: int, exc: BaseException) -> None:
    """Best effort: a crash must surface as itself, not as a failure to write run.json."""
    try:
        run.update(status="crashed", step=step, error=f"{type(exc).__name__}: {exc}")
    except (OSError, WriteError):
        pass


class _StopSignals:
    """SIGINT (Ctrl-C) and SIGTERM (timeout, systemd, Slurm, containers) ask the loop to stop after the current
    step, save a checkpoint and mark the run interrupted; a second one stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():  # only there can handlers be set
            for sig in self.SIGNALS:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.received is not None:
            self.restore()
            raise KeyboardInterrupt
        self.received = signum

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    @property
    def name(self) -> str | None:
        """SIGINT or SIGTERM once one was received (the CLI exits 130 or 143)."""
        return signal.Signals(self.received).name if self.received is not None else None
