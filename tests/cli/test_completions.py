"""Shell completions are generated from the Typer app; the committed ones must not be stale."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from hrm_paths import REPO
from hrm_cli.completions import render_all


def test_committed_completions_are_fresh():
    for name, text in render_all().items():
        committed = REPO / "completions" / name
        assert committed.is_file(), f"{committed} missing: run `make completions`"
        assert committed.read_text() == text, f"{committed} is stale: run `make completions` and commit"


def _bash_complete(words: list[str]) -> list[str]:
    script = (
        f"source {REPO / 'completions' / 'hrm.bash'}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
        f"COMP_CWORD={len(words) - 1}; _hrm; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_bash_completes_commands_and_options():
    assert "config" in _bash_complete(["hrm", "con"])
    assert set(_bash_complete(["hrm", "config", ""])) >= {"show", "list"}
    assert "--json" in _bash_complete(["hrm", "config", "show", "--"])


@pytest.mark.parametrize("shell, name", [("zsh", "hrm.zsh"), ("fish", "hrm.fish")])
def test_other_shells_parse(shell, name):
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed here")
    subprocess.run([shell, "-n", str(REPO / "completions" / name)], check=True)
