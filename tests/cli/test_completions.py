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


def test_bash_completes_values():
    from hrm_engine.config import available_presets

    presets = [p for p in available_presets("") if p not in ("agent", "base")]
    assert "hrm-tiny" in presets and "hrm-sudoku" in presets
    assert _bash_complete(["hrm", "train", "data", "--config", ""]) == presets
    assert _bash_complete(["hrm", "train", "data", "-c", "hrm-s"]) == [p for p in presets if p.startswith("hrm-s")]
    assert "hrm-sudoku" in _bash_complete(["hrm", "config", "show", "hrm-"])
    assert _bash_complete(["hrm", "bench", "train", "--config", "trm-t"]) == ["trm-tiny"]
    assert _bash_complete(["hrm", "agent", "run", "--backend", ""]) == ["mlx", "openai", "ollama"]
    assert _bash_complete(["hrm", "agent", "bench", "-b", "o"]) == ["openai", "ollama"]
    assert set(_bash_complete(["hrm", "agent", "bench", "--suite", ""])) >= {"coding", "math"}
    assert _bash_complete(["hrm", "agent", "run", "--controller", ""]) == ["flat", "hierarchical"]
    assert set(_bash_complete(["hrm", "data", "build", ""])) == {"arc", "maze", "sudoku"}
    assert _bash_complete(["hrm", "data", "build", "sudoku", "--difficulty", "e"]) == ["easy", "extreme"]
    assert _bash_complete(["hrm", "agent", "optimize", "--acquisition", ""]) == ["ei", "ucb", "thompson"]
    # an option without known values still completes files, and options still complete after a value
    assert "--json" in _bash_complete(["hrm", "train", "data", "--config", "hrm-tiny", "--j"])


def test_show_completion_prints_the_static_script(run_hrm):
    """No Typer dynamic script (it starts Python on every TAB): the committed file, for $SHELL."""
    for shell, name in (("bash", "hrm.bash"), ("zsh", "hrm.zsh"), ("fish", "hrm.fish")):
        out = run_hrm("--show-completion", env={"SHELL": f"/bin/{shell}"})
        assert out.returncode == 0, out.stderr
        assert out.stdout == (REPO / "completions" / name).read_text()
        assert "_HRM_COMPLETE" not in out.stdout and "python" not in out.stdout.lower()


def test_install_completion_writes_the_script(run_hrm, tmp_path):
    out = run_hrm("--install-completion", env={"SHELL": "/usr/bin/fish", "HOME": str(tmp_path)})
    assert out.returncode == 0 and "fish completion written to" in out.stdout
    assert (tmp_path / ".config/fish/completions/hrm.fish").read_text() == (REPO / "completions/hrm.fish").read_text()


def _shell_complete(shell: str, line: str) -> list[str]:
    script = REPO / "completions" / ("hrm.fish" if shell == "fish" else "hrm.zsh")
    if shell == "fish":
        cmd = ["fish", "--no-config", "-c", f"source {script}; complete -C '{line}'"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return [x.split("\t")[0] for x in out.stdout.splitlines()]
    raise NotImplementedError(shell)


def test_fish_completes_values():
    if not shutil.which("fish"):
        pytest.skip("fish is not installed here")
    assert "hrm-tiny" in _shell_complete("fish", "hrm train data --config ")
    assert sorted(_shell_complete("fish", "hrm agent run --backend o")) == ["ollama", "openai"]
    assert "hrm-sudoku" in _shell_complete("fish", "hrm config show hrm-")
    assert "--verify" in _shell_complete("fish", "hrm solve runs/x --v")


def test_zsh_tables_hold_the_values():
    if not shutil.which("zsh"):
        pytest.skip("zsh is not installed here")
    script = REPO / "completions" / "hrm.zsh"
    out = subprocess.run(["zsh", "-fc", f"compdef() {{ }}; source {script}; print -r -- "
                          "${_hrm_vals[hrm__agent__run__--backend]}; print -r -- ${_hrm_vals[hrm__config__show]}"],
                         capture_output=True, text=True, check=True)
    backends, presets = out.stdout.splitlines()
    assert backends == "mlx openai ollama" and "hrm-tiny" in presets.split()


@pytest.mark.parametrize("shell, name", [("zsh", "hrm.zsh"), ("fish", "hrm.fish")])
def test_other_shells_parse(shell, name):
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed here")
    subprocess.run([shell, "-n", str(REPO / "completions" / name)], check=True)
