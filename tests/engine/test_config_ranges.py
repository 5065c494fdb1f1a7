"""Config values have ranges: refused before any work, in one line naming the key, where it was set and the range."""

from __future__ import annotations

import re

import pytest
import yaml
from hrm_inprocess import assert_one_line_error, run_main

from hrm_engine.config import available_presets, config_dir
from hrm_engine.config_ranges import CHOICES, RANGES, check_train_config, resolve_train_config
from hrm_engine.errors import ConfigError

# The findings first (tracebacks, NaN training with exit 0, accepted nonsense), then more of each kind.
BAD = [
    ("global_batch_size=0", "must be an integer >= 1"),
    ("global_batch_size=-1", "must be an integer >= 1"),
    ("arch.num_heads=0", "must be an integer >= 1"),
    ("arch.expansion=0", "must be a finite number > 0"),
    ("seed=-1", "must be an integer in [0, 4294967296)"),
    ("lr=-1", "must be a finite number > 0"),
    ("lr=.nan", "got nan"),
    ("arch.rope_theta=-1", "must be a finite number > 0"),
    ("max_steps=-5", "must be null or an integer >= 1"),
    ("keep_checkpoints=-1", "must be an integer >= 1"),
    ("eval_interval=7", "must divide epochs=60"),
    ("lr=.inf", "got inf"),
    ("puzzle_emb_lr=0", "must be a finite number > 0"),
    ("seed=4294967296", "[0, 4294967296)"),
    ("epochs=0", "must be an integer >= 1"),
    ("eval_interval=0", "must be null or an integer >= 1"),
    ("eval_interval=120", "must divide epochs=60"),
    ("eval_batch_size=0", "null or an integer >= 1"),
    ("log_interval=-1", "null or an integer >= 1"),
    ("checkpoint_interval=0", "null or an integer >= 1"),
    ("prefetch_batches=-1", "null or an integer >= 0"),
    ("lr_warmup_steps=-1", "an integer >= 0"),
    ("lr_min_ratio=1.5", "in [0, 1]"),
    ("beta1=1", "in [0, 1)"),
    ("beta2=-0.1", "in [0, 1)"),
    ("weight_decay=-1", ">= 0"),
    ("puzzle_emb_weight_decay=.nan", "got nan"),
    ("puzzle_emb_noise=-0.1", ">= 0"),
    ("arch.hidden_size=0", "an integer >= 1"),
    ("arch.hidden_size=30", "must be a multiple of arch.num_heads=4"),
    ("arch.num_heads=64", "must be even with RoPE"),
    ("arch.expansion=0.001", "feed-forward layer of width 0"),
    ("arch.H_layers=0", "an integer >= 1"),
    ("arch.L_cycles=-2", "an integer >= 1"),
    ("arch.halt_max_steps=0", "an integer >= 1"),
    ("arch.halt_exploration_prob=1.5", "in [0, 1]"),
    ("arch.puzzle_emb_ndim=0", "null or an integer >= 1"),
    ("arch.rms_norm_eps=0", "> 0"),
    ("arch.loss=stablemax", "did you mean stablemax_cross_entropy?"),
    ("arch.pos_encodings=rotary", "must be one of rope, learned"),
    ("arch.forward_dtype=bf16", "must be one of auto, float32, bfloat16, float16"),
    ("cpu_math=fused2", "did you mean fused?"),
    ("cpu_streams=0", "auto or an integer >= 1"),
    ("max_steps=abc", "expects a number"),
    ("max_steps=2.5", "expects an integer"),
]


@pytest.mark.parametrize("override, fragment", BAD)
def test_bad_values_are_refused_naming_key_origin_and_range(override, fragment):
    with pytest.raises(ConfigError) as err:
        resolve_train_config("hrm-tiny", None, [override])
    message = str(err.value)
    assert fragment in message and f"override '{override}'" in message
    assert override.split("=")[0] in message


@pytest.mark.parametrize("command", [("config", "show", "hrm-tiny"), ("train", "no-data"), ("bench", "train")])
@pytest.mark.parametrize("override, fragment", BAD[:11])
def test_cli_commands_refuse_them_before_any_work(tmp_path, command, override, fragment):
    result = run_main(*command, override, cwd=tmp_path)
    assert_one_line_error(result, fragment, f"override '{override}'")
    assert not (tmp_path / "runs").exists()


def test_the_console_script_refuses_them_too(run_hrm, tmp_path):
    for args in (("config", "show", "hrm-tiny", "lr=-1"), ("train", "d", "global_batch_size=0"),
                 ("bench", "train", "arch.num_heads=0")):
        out = run_hrm(*args, cwd=tmp_path)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr


def test_a_value_from_a_user_file_or_a_saved_config_names_that_file(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("lr: -3\n")
    with pytest.raises(ConfigError, match=rf"'lr' in {re.escape(str(mine))} must be a finite number > 0"):
        resolve_train_config("hrm-tiny", mine)
    saved = tmp_path / "config.yaml"
    saved.write_text(yaml.safe_dump({**resolve_train_config("hrm-tiny"), "keep_checkpoints": 0}))
    with pytest.raises(ConfigError, match=rf"'keep_checkpoints' in {re.escape(str(saved))}"):
        resolve_train_config(saved)  # a resumed run's config.yaml
    odd = tmp_path / "odd.yaml"
    odd.write_text("epochs: 50\n")
    with pytest.raises(ConfigError, match=rf"eval_interval=12 \(preset hrm-tiny\) must divide epochs=50 "
                                          rf"\({re.escape(str(odd))}\).* try eval_interval=10 or 25"):
        resolve_train_config("hrm-tiny", odd)


def test_shipped_presets_and_good_edges_pass():
    for name in available_presets():
        if name != "agent":
            resolve_train_config(name)
    cfg = resolve_train_config("hrm-tiny", None, ["max_steps=1e3", "eval_interval=null", "seed=4294967295",
                                                  "beta2=0", "lr_min_ratio=0", "arch.puzzle_emb_ndim=null",
                                                  "cpu_streams=2", "prefetch_batches=null"])
    assert cfg["max_steps"] == 1000 and isinstance(cfg["max_steps"], int)
    agent = resolve_train_config("agent")  # not a training config: its keys are not checked here
    assert "arch" not in agent


def test_a_config_dict_given_to_the_engine_is_checked_too():
    from hrm_engine.config import resolve_config
    from hrm_engine.train import Trainer

    cfg = resolve_config("hrm-tiny", None, ["lr=-1"])  # names and types only: values are the engine's check
    with pytest.raises(ConfigError, match="'lr' in the config must be a finite number > 0"):
        Trainer(cfg, "unused")
    with pytest.raises(ConfigError, match="'arch.num_heads' in runs/x/config.yaml"):
        check_train_config({**cfg, "lr": 1e-4, "arch": {**cfg["arch"], "num_heads": 0}}, "runs/x/config.yaml",
                           model_only=True)
    check_train_config({**cfg, "lr": -1.0}, model_only=True)  # the schedule is not the model's concern


def _base_comments() -> dict[str, str]:
    """Dotted key -> its comment in configs/base.yaml."""
    out, section = {}, ""
    for line in (config_dir() / "base.yaml").read_text().splitlines():
        m = re.match(r"^(\s*)(\w+):\s*([^#]*?)\s*(?:#\s*(.*))?$", line)
        if not m:
            continue
        indent, key, value, comment = m.groups()
        if not indent:
            section = key if value == "" else ""
        out[f"{section}.{key}" if indent and section else key] = comment or ""
    return out


def test_every_numeric_key_has_a_range_stated_in_base_yaml():
    base = yaml.safe_load((config_dir() / "base.yaml").read_text())
    comments = _base_comments()
    numeric = [k for k, v in base.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    numeric += [f"arch.{k}" for k, v in base["arch"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert set(numeric) <= set(RANGES), set(numeric) - set(RANGES)
    for key, rule in RANGES.items():
        assert key in comments, f"{key} has a range but is not in base.yaml"
        assert rule.short() in comments[key], f"base.yaml's comment for {key} must state: {rule.short()}"
    for key, options in CHOICES.items():
        names = [o for o in options if isinstance(o, str) and o != "auto"]
        assert any(n in comments[key] for n in names), key
    assert "divide epochs" in comments["eval_interval"] and "multiple of num_heads" in comments["arch.hidden_size"]
