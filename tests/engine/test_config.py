"""The shared config mechanism: preset < user file < key=value overrides, typed, validated."""

from __future__ import annotations

import pytest
import yaml

from hrm_engine.config import available_presets, parse_override, resolve_config
from hrm_engine.errors import ConfigError


def test_presets_ship_and_resolve():
    assert {"hrm-sudoku", "hrm-tiny", "hrm-maze", "hrm-arc"} <= set(available_presets())
    cfg = resolve_config("hrm-sudoku")
    assert cfg["arch"]["hidden_size"] == 512 and cfg["arch"]["H_cycles"] == 2
    assert cfg["global_batch_size"] == 768 and cfg["weight_decay"] == 1.0
    tiny = resolve_config("hrm-tiny")
    assert tiny["arch"]["name"] == "hrm_tiny" and tiny["arch"]["hidden_size"] < 512
    # keys the arch preset leaves out come from the root
    assert tiny["arch"]["rope_theta"] == 10000.0


def test_resolution_order(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("lr: 3.0e-4\narch:\n  H_cycles: 5\n  L_cycles: 3\n")
    cfg = resolve_config("hrm-tiny", user, ["arch.H_cycles=7", "lr=1e-4"])
    assert cfg["arch"]["H_cycles"] == 7  # override beats file
    assert cfg["arch"]["L_cycles"] == 3  # file beats preset
    assert cfg["lr"] == pytest.approx(1e-4) and isinstance(cfg["lr"], float)


def test_override_typing():
    assert parse_override("arch.H_cycles=3") == ("arch.H_cycles", 3)
    assert parse_override("compile=false") == ("compile", False)
    assert parse_override("max_steps=null") == ("max_steps", None)
    cfg = resolve_config("hrm-tiny", None, ["epochs=1e3", "max_steps=12"])
    assert cfg["epochs"] == 1000 and isinstance(cfg["epochs"], int)
    assert cfg["max_steps"] == 12


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("arch.H_cycle=3", "arch.H_cycles"),
        ("lrr=1", "lr"),
        ("epochs=1.5", "expects an integer"),
        ("lr=fast", "expects a number"),
        ("compile=3", "true or false"),
        ("novalue", "key=value"),
    ],
)
def test_override_errors_name_the_fix(override, fragment):
    with pytest.raises(ConfigError) as err:
        resolve_config("hrm-tiny", None, [override])
    assert fragment in str(err.value)


def test_unknown_key_in_user_file_and_bad_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("arch:\n  hiden_size: 64\n")
    with pytest.raises(ConfigError, match="arch.hidden_size"):
        resolve_config("hrm-tiny", bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("lr: [1,\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+"):
        resolve_config("hrm-tiny", broken)


def test_unknown_preset_suggests():
    with pytest.raises(ConfigError, match="hrm-tiny"):
        resolve_config("hrm-tny")


def test_preset_file_path_with_base(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"base": "hrm-tiny", "lr": 0.002}))
    # a file outside configs/ can extend a shipped preset by name
    cfg = resolve_config(path)
    assert cfg["lr"] == 0.002 and cfg["arch"]["name"] == "hrm_tiny"
