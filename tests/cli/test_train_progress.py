"""`hrm train` on a wide terminal: the progress bar starts after the run line, so no stale `train 0/?`."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest

from hrm_datasets.build_sudoku import build_sudoku
from hrm_paths import HRM


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_no_stale_progress_line_before_the_run_line(tmp_path):
    build_sudoku(tmp_path / "d4", size=4, difficulty="easy", count=32, test_count=4, seed=0)
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([HRM, "train", "d4", "--config", "hrm-tiny", "arch.hidden_size=32", "arch.num_heads=2",
                             "arch.H_layers=1", "arch.L_layers=1", "global_batch_size=16", "max_steps=4",
                             "log_interval=2", "eval_interval=null", "--run-name", "w"],
                            cwd=tmp_path, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=120) == 0, out.decode(errors="replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))  # styles and cursor moves off
    assert "run " in text and "train" in text and "4/4" in text  # the bar was drawn (a terminal)
    assert "0/?" not in text
    assert text.index("parameters") < text.index("train")
