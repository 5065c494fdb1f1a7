"""Training: the compiled step, the loop, evaluation and checkpoints (the reference's pretrain.py).

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
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Callable

import mlx.core as mx

from hrm_datasets.format import load_metadata
from hrm_datasets.loader import TrainSampler, examples_per_epoch
from hrm_datasets.validate import check_eval_split
from hrm_engine import backend
from hrm_engine.act import initial_carry, reset_halted, segment_step
from hrm_engine.checkpoint import (best_checkpoint, list_checkpoints, load_arrays,
                                   load_model_weights, mark_best, prune_checkpoints, save_checkpoint,
                                   update_checkpoint_state)
from hrm_engine.distributed import Dist
from hrm_engine.ema import EMA
from hrm_engine.errors import EngineError
from hrm_engine.losses import METRIC_KEYS, act_loss
from hrm_engine.models.base import count_parameters
from hrm_engine.models.build import new_model, uses_ema
from hrm_engine.optim import AdamAtan2, lr_schedule, sparse_sign_sgd
from hrm_engine.prefetch import BatchPrefetcher
from hrm_engine.runs import RunDir, write_json_atomic
from hrm_engine.writes import WriteError, writing

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

        self.config = check_train_config(config)  # values in range before any work (the CLI checked with origins)
        self.dist = dist or Dist()
        self.data_root = Path(data_root)
        self.metadata = load_metadata(self.data_root, "train")
        self.global_batch_size = int(config["global_batch_size"])
        self.seed = int(config["seed"])
        epochs_per_iter = max(1, int(config["eval_interval"] or config["epochs"]))
        self.sampler = TrainSampler(self.data_root, self.global_batch_size, seed=self.seed,
                                    epochs_per_iter=epochs_per_iter, rank=self.dist.rank,
                                    world_size=self.dist.size)
        mx.random.seed(self.seed)  # deterministic initialisation
        self.model = new_model(config, self.metadata)  # HRM or TRM (arch.name), its CPU kernels and shards
        self.total_steps = total_steps(config, self.metadata)
        self.lr_fn = lr_schedule(config["lr"], config["lr_warmup_steps"], self.total_steps, config["lr_min_ratio"])
        self.puzzle_lr_fn = lr_schedule(config["puzzle_emb_lr"], config["lr_warmup_steps"], self.total_steps,
                                        config["lr_min_ratio"])
        self.optimizer = AdamAtan2(self.lr_fn, betas=(config["beta1"], config["beta2"]),
                                   weight_decay=config["weight_decay"])
        self.optimizer.init(self.model.trainable_parameters())
        self.ema = EMA(self.model, float(config.get("ema_rate", 0.999))) if uses_ema(config) else None
        self.step_count = 0
        self.carry: dict[str, mx.array] | None = None
        self.tokens_per_step = self.global_batch_size * self.metadata.seq_len
        self._step_fn = self._build_step(bool(config.get("compile", True)))
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

    def _build_step(self, compile_: bool) -> Callable:
        model, opt = self.model, self.optimizer
        loss_type, gbs = model.config.loss, float(self.global_batch_size)
        dist = self.dist

        def loss_fn(params, rows, carry, key):
            model.update(params)
            new_carry, outputs = segment_step(model, carry, rows, training=True, key=key, shard=dist.shard())
            loss, metrics = act_loss(outputs, new_carry["labels"], new_carry["halted"], new_carry["steps"], loss_type)
            return loss / gbs, (new_carry, metrics)

        grad_fn = mx.value_and_grad(loss_fn, argnums=(0, 1))

        def step(carry, batch, key, puzzle_lr):
            carry = reset_halted(model, carry, batch)
            ids = carry["puzzle_identifiers"]
            rows = model.puzzle_emb[ids]
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
        batch = {k: mx.array(v) for k, v in self._next_batch().items()}
        if self.carry is None:
            self.carry = initial_carry(self.model, batch)
        lr_now = self.lr_fn.at(self.step_count)
        puzzle_lr = self.puzzle_lr_fn(mx.array(self.step_count))  # lazy: computed with the step
        self.carry, metrics = self._step_fn(self.carry, batch, self.step_key(self.step_count), puzzle_lr)
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
        return {"sampler": sampler_state, "seed": self.seed, "epoch": self.epoch,
                "total_steps": self.total_steps}

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

        from hrm_engine.run_files import read_state

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
        self._step_fn = self._build_step(bool(self.config.get("compile", True)))
        return state


def default_run_name(config: dict[str, Any], data_root: Path) -> str:
    return f"{config.get('name', 'run')}-{data_root.name}-{datetime.now():%Y%m%d-%H%M%S}"


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


class _NullRun:
    """Stands in for RunDir on ranks other than 0: they train and evaluate but write nothing."""

    info: dict[str, Any] = {}

    def __getattr__(self, _name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class TrainingInterrupted(Exception):
    """Raised after a Ctrl-C or SIGTERM has been handled (checkpoint saved); args[0] is the summary."""


def run_training(
    config: dict[str, Any],
    data_root: str | Path,
    *,
    resume: str | Path | None = None,
    run_name: str | None = None,
    on_start: Callable[[Trainer, Path], None] | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    on_eval_progress: Callable[[int, int], None] | None = None,
    dist: Dist | None = None,
) -> dict[str, Any]:
    """The training loop; returns a summary. Writes the run directory as it goes (rank 0 only).

    A write that fails (disk full, read-only) raises WriteError after removing the staging and marking
    the run `failed`; SIGINT/SIGTERM save a checkpoint and raise TrainingInterrupted(summary).
    """
    from hrm_engine.evaluate import evaluate_split

    dist = dist or Dist()
    main = dist.is_main

    data_root = Path(data_root)
    if resume is not None:
        run_path = Path(resume)
        if not (run_path / "config.yaml").is_file():
            raise EngineError(f"cannot resume {run_path}: not a run directory (no config.yaml)")
        check_resume_compatible(run_path, config, data_root)
    else:
        run_path = Path(config.get("runs_dir") or "runs") / (run_name or config.get("run_name")
                                                            or default_run_name(config, data_root))
        if (run_path / "checkpoints").is_dir() and list_checkpoints(run_path):
            raise EngineError(f"run {run_path} already exists; pass --resume {run_path} or another --run-name")

    trainer = Trainer(config, data_root, dist=dist)
    check_eval_split(data_root, trainer.model.config)  # a bad test split refused now, not after training
    run = RunDir(run_path) if main else _NullRun()
    best_path, best_metric = None, None
    state: dict[str, Any] = {}
    try:
        if main:
            run.clean_staging()  # what a killed run left half-written; a run directory has one writer
            _copy_run_files(run, config, data_root)
        dist.barrier()
        if resume is not None:
            ckpts = list_checkpoints(run_path)
            state = trainer.restore(ckpts[-1]) if ckpts else {}
            best_path, best_metric = best_checkpoint(run_path)
        # every step once: lines past the checkpoint (or all, with none) are logged again from here
        run.truncate_metrics_after(trainer.step_count, drop_eval_at_step=bool(state.get("eval_pending")))
    except WriteError as exc:
        raise _write_failed(run, exc, trainer.step_count) from None
    saved_step = trainer.step_count if state else None

    log_interval = max(1, int(config.get("log_interval") or 10))
    ckpt_interval = config.get("checkpoint_interval")
    keep = int(config.get("keep_checkpoints", 3))
    eval_interval_epochs = config.get("eval_interval")
    eval_bs = int(config.get("eval_batch_size") or trainer.global_batch_size)
    eval_total = _split_examples(data_root, "test")
    window: list[dict[str, mx.array]] = []  # metrics of the steps since the last log, not yet read back
    window_start = time.perf_counter()
    wall_start = time.perf_counter() - float(state.get("wall_s", 0.0))
    next_eval_epoch = None
    if eval_interval_epochs:
        done_evals = int(trainer.epoch // eval_interval_epochs)
        next_eval_epoch = (done_evals + 1) * eval_interval_epochs
    last_eval: dict[str, Any] | None = None
    stop = _StopSignals()
    heartbeat = [time.monotonic()]

    def save(extra: dict[str, Any] | None = None) -> Path | None:
        """A checkpoint at this step (once: a step already saved is not written again)."""
        nonlocal saved_step
        if saved_step == trainer.step_count:
            return run_path / "checkpoints" / f"step_{trainer.step_count:07d}" if main else None
        ckpt = trainer.save(run_path, {"wall_s": time.perf_counter() - wall_start, **(extra or {})})
        saved_step = trainer.step_count
        if ckpt is not None:
            prune_checkpoints(run_path, keep, best_path)
        return ckpt

    def eval_progress(done: int, _count: int) -> None:
        if stop.received is not None:
            raise TrainingInterrupted  # a signal mid-evaluation: stop now (the checkpoint is already saved)
        if time.monotonic() - heartbeat[0] > 30:  # a long evaluation must not look like a dead run
            run.update()
            heartbeat[0] = time.monotonic()
        if on_eval_progress:
            on_eval_progress(done, eval_total)

    def do_eval() -> dict[str, Any]:
        """Checkpoint first (a kill during a long evaluation loses no training), then evaluate."""
        nonlocal best_path, best_metric, last_eval
        ckpt = save({"eval_pending": True})
        with trainer.eval_weights():
            metrics, _ = evaluate_split(trainer.model, data_root, "test", eval_bs, on_batch=eval_progress, dist=dist)
        record = {"type": "eval", "split": "test", "step": trainer.step_count, "epoch": trainer.epoch,
                  **metrics, "wall_s": time.perf_counter() - wall_start, "time": time.time()}
        run.log(record)
        last_eval = record
        if ckpt is None:  # not rank 0
            return record
        update_checkpoint_state(ckpt, eval=metrics, eval_pending=None)
        if best_metric is None or metrics["exact_accuracy"] >= best_metric:
            best_path, best_metric = ckpt, metrics["exact_accuracy"]
            mark_best(run_path, ckpt, best_metric)
        prune_checkpoints(run_path, keep, best_path)
        if on_eval:
            on_eval(record)
        return record

    status = "finished"
    try:
        with stop:
            try:
                for stale in ("error", "finished"):  # from the life of the run that stopped
                    run.info.pop(stale, None)
                run.update(status="running", started=run.info.get("started", time.time()), data=str(data_root),
                           total_steps=trainer.total_steps, step=trainer.step_count,
                           parameters=trainer.num_parameters, name=run_path.name, device=backend.device_label(),
                           signal=None)
                if on_start:
                    on_start(trainer, run_path)
                if state.get("eval_pending"):  # stopped during that evaluation: run it again
                    do_eval()
                while trainer.step_count < trainer.total_steps:
                    metrics, lr_now = trainer.launch()  # not waited for: read back only when logged
                    window.append(metrics)
                    step = trainer.step_count
                    if step % log_interval == 0 or step == trainer.total_steps:
                        rows = mx.stack([mx.stack([m[k] for k in METRIC_KEYS]) for m in window]).tolist()
                        sums = {k: sum(row[i] for row in rows) for i, k in enumerate(METRIC_KEYS)}
                        window_steps, window = len(window), []
                        elapsed = time.perf_counter() - window_start
                        record = {"type": "train", "step": step, "epoch": trainer.epoch, "lr": lr_now,
                                  **normalise_train_metrics(sums, trainer.global_batch_size * window_steps),
                                  "steps_per_s": window_steps / elapsed,
                                  "tokens_per_s": window_steps * trainer.tokens_per_step / elapsed,
                                  "wall_s": time.perf_counter() - wall_start, "time": time.time()}
                        # per-step averages of the summed metrics over the window
                        record.update({k: v for k, v in
                                       normalise_train_metrics(sums, trainer.global_batch_size).items()
                                       if k in ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps")})
                        record["count"] = sums["count"] / window_steps
                        run.log(record)
                        run.update(step=step, epoch=trainer.epoch, wall_s=record["wall_s"])
                        heartbeat[0] = time.monotonic()
                        if on_log:
                            on_log(record)
                        window_start = time.perf_counter()
                    if next_eval_epoch is not None and trainer.epoch >= next_eval_epoch:
                        do_eval()
                        next_eval_epoch += eval_interval_epochs
                    elif ckpt_interval and step % int(ckpt_interval) == 0:
                        save()
                    if stop.received is not None:
                        raise TrainingInterrupted
                if last_eval is None or last_eval["step"] != trainer.step_count:
                    do_eval()
            except (TrainingInterrupted, KeyboardInterrupt):
                status = "interrupted"
                save()
            trainer.close()
            summary = {"run": str(run_path), "status": status, "step": trainer.step_count,
                       "total_steps": trainer.total_steps, "parameters": trainer.num_parameters,
                       "last_eval": last_eval, "best_checkpoint": str(best_path) if best_path else None,
                       "best_exact_accuracy": best_metric, "signal": stop.name}
            run.update(status=status, step=trainer.step_count, finished=time.time(), signal=stop.name)
            if main:
                write_json_atomic(run_path / "summary.json", summary)
                run.clean_staging()
    except WriteError as exc:
        raise _write_failed(run, exc, trainer.step_count) from None
    except Exception as exc:
        _record_crash(run, trainer.step_count, exc)
        raise
    finally:
        trainer.close()
    if status == "interrupted":
        raise TrainingInterrupted(summary)
    return summary


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
