"""The entry point itself: version, help, config show through the real console script."""

from __future__ import annotations

import json
import sys

import pytest


def test_version_and_help(run_hrm):
    out = run_hrm("--version")
    assert out.returncode == 0 and out.stdout.startswith("hrm ")
    help_ = run_hrm("--help")
    assert help_.returncode == 0 and "config" in help_.stdout


def test_config_show_yaml_json_and_error(run_hrm):
    out = run_hrm("config", "show", "hrm-tiny", "arch.H_cycles=3")
    assert out.returncode == 0 and "H_cycles: 3" in out.stdout
    js = run_hrm("config", "show", "hrm-sudoku", "--json")
    assert json.loads(js.stdout)["arch"]["hidden_size"] == 512
    bad = run_hrm("config", "show", "hrm-tiny", "arch.H_cycle=3")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "arch.H_cycles" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("args, message", [
    (("train", "data", "--output", "x"), "error: No such option: --output (see 'hrm train -h')"),
    (("train",), "error: Missing argument 'data'. (see 'hrm train -h')"),
    (("nosuch",), "error: No such command 'nosuch'. (see 'hrm -h')"),
    (("bench", "train", "--steps", "abc"), "error: Invalid value for '--steps': "),
])
def test_usage_errors_are_one_line_and_exit_2(run_hrm, args, message):
    out = run_hrm(*args)
    assert out.returncode == 2
    assert out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr and "Usage:" not in out.stderr


def test_no_arguments_print_the_help_and_commands_keep_their_exit_codes(run_hrm):
    bare = run_hrm()
    assert bare.returncode == 2 and "Usage: hrm" in bare.stdout and "train" in bare.stdout and bare.stderr == ""
    assert run_hrm("data", "--help").returncode == 0
    # a command's own typer.Exit code passes through: doctor's 1 for MLX on its slow bundled BLAS
    slow = run_hrm("doctor", "--no-compare", "--json", env={"HRM_BLAS": "none"})
    if sys.platform == "linux":
        assert slow.returncode == 1 and "bundled reference BLAS" in slow.stderr
    else:
        assert slow.returncode == 0
