"""The entry point itself: version, help, config show through the real console script."""

from __future__ import annotations

import json


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
