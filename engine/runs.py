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


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary name, then rename: a reader never sees half a file.

    Values JSON cannot hold (paths, numpy scalars, ...) are written as their repr.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=repr) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunDir:
    """Writes config.yaml, run.json (with heartbeat) and metrics.jsonl of one training run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "checkpoints").mkdir(exist_ok=True)
        self.metrics_path = self.path / "metrics.jsonl"
        self.info: dict[str, Any] = {}
        info_path = self.path / "run.json"
        if info_path.is_file():
            try:
                self.info = json.loads(info_path.read_text())
            except json.JSONDecodeError:
                self.info = {}

    def write_config(self, config: dict[str, Any]) -> None:
        tmp = self.path / ".config.yaml.tmp"
        tmp.write_text(dump_yaml(config))
        os.replace(tmp, self.path / "config.yaml")

    def update(self, **fields: Any) -> None:
        """Merge fields into run.json and refresh the heartbeat."""
        self.info.update(fields, heartbeat=time.time(), pid=os.getpid())
        write_json_atomic(self.path / "run.json", self.info)

    def log(self, record: dict[str, Any]) -> None:
        """Append one metrics line and flush it, so a dashboard can follow along."""
        line = json.dumps({k: _clean(v) for k, v in record.items()})
        with open(self.metrics_path, "a") as f:
            f.write(line + "\n")
            f.flush()

    def truncate_metrics_after(self, step: int) -> None:
        """On resume, drop lines logged after the checkpoint's step (they will be logged again)."""
        if not self.metrics_path.is_file():
            return
        kept = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue
        tmp = self.metrics_path.with_name(".metrics.jsonl.tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept))
        os.replace(tmp, self.metrics_path)
