"""The run directory contract (docs/run-directory.md): what training writes while it runs.

    runs/<name>/config.yaml      the resolved configuration
    runs/<name>/run.json         status, pid, heartbeat, step, total_steps (rewritten atomically)
    runs/<name>/metrics.jsonl    one JSON object per logged step and per evaluation (appended, flushed)
    runs/<name>/dataset.json     the training split's metadata; build.json: how the data was built
    runs/<name>/checkpoints/step_<N>/   see checkpoint.py
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from hrm_engine.config import dump_yaml
from hrm_datasets.files import WriteError, append_all, clean_stale, remove, write_text_atomic, writing


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary name, then rename: a reader never sees half a file.

    Values JSON cannot hold (paths, numpy scalars, ...) are written as their repr. A failed write (disk
    full, read-only) raises WriteError and leaves the old file as it was.
    """
    write_text_atomic(Path(path), json.dumps(data, indent=2, default=repr) + "\n")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunDir:
    """Writes config.yaml, run.json (with heartbeat) and metrics.jsonl of one training run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with writing(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "checkpoints").mkdir(exist_ok=True)
        self.metrics_path = self.path / "metrics.jsonl"
        self.info: dict[str, Any] = {}
        info_path = self.path / "run.json"
        if info_path.is_file():  # a damaged run.json (not JSON, not an object) is rewritten by the next update()
            try:
                info = json.loads(info_path.read_text(encoding="utf-8", errors="replace"))
            except (json.JSONDecodeError, RecursionError):
                info = {}
            self.info = info if isinstance(info, dict) else {}

    def write_config(self, config: dict[str, Any]) -> None:
        write_text_atomic(self.path / "config.yaml", dump_yaml(config))

    def clean_staging(self) -> list[Path]:
        """Remove what a process that died mid-write left (`.step_N.tmp-PID`, `.run.json.tmp-PID`, ...)."""
        removed = clean_stale(self.path) + clean_stale(self.path / "checkpoints")
        for legacy in (".config.yaml.tmp", ".metrics.jsonl.tmp", "checkpoints/.best.tmp"):  # names without a PID
            if (self.path / legacy).exists():
                remove(self.path / legacy)
                removed.append(self.path / legacy)
        return removed

    def update(self, **fields: Any) -> None:
        """Merge fields into run.json and refresh the heartbeat."""
        self.info.update(fields, heartbeat=time.time(), pid=os.getpid())
        write_json_atomic(self.path / "run.json", self.info)

    def mark_failed(self, error: str, **fields: Any) -> bool:
        """Record status `failed` and why; False when even run.json cannot be written (a read-only disk)."""
        try:
            self.update(status="failed", error=error, finished=time.time(), **fields)
        except (OSError, WriteError):
            return False
        return True

    def log(self, record: dict[str, Any]) -> None:
        """Append one metrics line and flush it, so a dashboard can follow along (all of it or none)."""
        data = (json.dumps({k: _clean(v) for k, v in record.items()}) + "\n").encode()
        with writing(self.metrics_path), open(self.metrics_path, "ab", buffering=0) as f:
            append_all(f, data)

    def truncate_metrics_after(self, step: int, *, drop_eval_at_step: bool = False) -> None:
        """On resume, drop lines logged after the checkpoint's step (they will be logged again), so every
        step appears once; step 0 (no checkpoint yet) drops them all. `drop_eval_at_step`: the evaluation at
        `step` will run again too (it had not finished when the run stopped)."""
        if not self.metrics_path.is_file():
            return
        kept = []
        for line in self.metrics_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:  # a damaged line (not JSON, not UTF-8) is dropped with the rest of the run's aftermath
                rec = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                continue
            at = rec.get("step", 0) if isinstance(rec, dict) else 0
            if at < step or (at == step and not (drop_eval_at_step and rec.get("type") == "eval")):
                kept.append(line)
        write_text_atomic(self.metrics_path, "".join(f"{line}\n" for line in kept))
