"""Valid ranges of the training configuration's values, checked before any work starts.

`config.py` checks names and types; this module checks values. A batch size of 0 or a head
count of 0 otherwise ends in a traceback deep inside MLX, and a negative or NaN learning rate
trains to NaN with exit code 0. Each rule here is stated in a comment beside its key in
configs/base.yaml; a test holds the two together. Cross-key rules follow the model and the
reference: hidden_size a multiple of num_heads (even head size with RoPE) and, as sapientinc/HRM
pretrain.py asserts, eval_interval a divisor of epochs.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from hrm_engine.errors import ConfigError

SEED_LIMIT = 2**32  # mx.random.seed and the step keys (seed * 1_000_003 + step) stay within 64 bits


@dataclass(frozen=True)
class Range:
    """An integer or finite number between bounds (open or closed), optionally null."""

    integer: bool = True
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False

    def describe(self) -> str:
        """For messages: "null or an integer >= 1", "a finite number in [0, 1)"."""
        return self._text("an integer" if self.integer else "a finite number")

    def short(self) -> str:
        """As configs/base.yaml's comments state it: "null or int >= 1", "number in [0, 1)"."""
        return self._text("int" if self.integer else "number")

    def _text(self, kind: str) -> str:
        low, high = _number(self.low), _number(self.high)
        if self.low is not None and self.high is not None:
            bounds = f" in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        elif self.low is not None:
            bounds = f" {'>' if self.low_open else '>='} {low}"
        elif self.high is not None:
            bounds = f" {'<' if self.high_open else '<='} {high}"
        else:
            bounds = ""
        return ("null or " if self.nullable else "") + kind + bounds

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.integer and not float(value).is_integer():
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))


def _number(x: float | None) -> str:
    return "" if x is None else str(int(x)) if float(x).is_integer() else f"{x:g}"


POSITIVE_INT = Range(low=1)
COUNT = Range(low=0)
POSITIVE = Range(integer=False, low=0, low_open=True)
NON_NEGATIVE = Range(integer=False, low=0)
FRACTION = Range(integer=False, low=0, high=1)
BETA = Range(integer=False, low=0, high=1, high_open=True)
SHARE = Range(integer=False, low=0, low_open=True, high=1)  # a fraction of training that must not be empty

RANGES: dict[str, Range] = {
    "arch.hidden_size": POSITIVE_INT,
    "arch.num_heads": POSITIVE_INT,
    "arch.expansion": POSITIVE,
    "arch.H_layers": POSITIVE_INT,
    "arch.L_layers": POSITIVE_INT,
    "arch.H_cycles": POSITIVE_INT,
    "arch.L_cycles": POSITIVE_INT,
    "arch.halt_max_steps": POSITIVE_INT,
    "arch.halt_exploration_prob": FRACTION,
    "arch.puzzle_emb_ndim": Range(low=1, nullable=True),
    "arch.rope_theta": POSITIVE,
    "arch.rms_norm_eps": POSITIVE,
    "arch.puzzle_emb_len": Range(low=0, nullable=True),
    "ema_rate": FRACTION,
    "global_batch_size": POSITIVE_INT,
    "epochs": POSITIVE_INT,
    "eval_interval": Range(low=1, nullable=True),
    "max_steps": Range(low=1, nullable=True),
    "lr": POSITIVE,
    "lr_min_ratio": FRACTION,
    "lr_warmup_steps": COUNT,
    "beta1": BETA,
    "beta2": BETA,
    "weight_decay": NON_NEGATIVE,
    "puzzle_emb_lr": POSITIVE,
    "puzzle_emb_weight_decay": NON_NEGATIVE,
    "puzzle_emb_noise": NON_NEGATIVE,
    "muon_lr": POSITIVE,
    "muon_momentum": BETA,
    "muon_weight_decay": NON_NEGATIVE,
    "seed": Range(low=0, high=SEED_LIMIT, high_open=True),
    "eval_batch_size": Range(low=1, nullable=True),
    "log_interval": Range(low=1, nullable=True),
    "checkpoint_interval": Range(low=1, nullable=True),
    "keep_checkpoints": POSITIVE_INT,
    "prefetch_batches": Range(low=0, nullable=True),
    "curriculum_start": SHARE,
    "curriculum_steps": SHARE,
    "hint_start": FRACTION,
    "hint_steps": SHARE,
}

CHOICES: dict[str, tuple[Any, ...]] = {
    "arch.pos_encodings": ("rope", "learned", "grid", "none"),
    "arch.loss": ("stablemax_cross_entropy", "softmax_cross_entropy"),
    "arch.forward_dtype": ("auto", "float32", "bfloat16", "float16"),
    "optimizer": ("adam_atan2", "muon"),
    "cpu_math": ("auto", "fused", "builtin", True, False, None),
}

# What a checkpoint being loaded for eval/solve must satisfy: the model and evaluation keys, not the
# schedule (an older run's eval_interval must not stop it from being scored).
MODEL_KEYS = ("arch.", "eval_batch_size", "global_batch_size", "cpu_streams", "cpu_math")

RANGES_HINT = "the ranges are stated in configs/base.yaml"


def is_train_config(config: dict[str, Any]) -> bool:
    """A training configuration (not the agent's): an `arch` mapping and a global batch size."""
    return isinstance(config.get("arch"), dict) and "global_batch_size" in config


def _get(config: dict[str, Any], key: str) -> tuple[bool, Any]:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _set(config: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[leaf] = value


def _normalise(key: str, value: Any, rule: Range, where: str) -> Any:
    """A nullable key has no typed default to coerce to: type `1e3` or `12.0` here, as config.py does."""
    from hrm_engine.config import coerce_value

    if value is None or isinstance(value, bool):
        return value
    return coerce_value(key, value, 0 if rule.integer else 0.0, where)


def _bad(key: str, value: Any, where: str, must: str) -> ConfigError:
    return ConfigError(f"config key '{key}' in {where} must be {must}, got {value!r} ({RANGES_HINT})")


def _check_choice(key: str, value: Any, where: str) -> None:
    options = CHOICES[key]
    if any(value is o or (type(value) is type(o) and value == o) for o in options):
        return
    names = [o for o in options if isinstance(o, str)]
    text = str(value).lower()
    close = [n for n in names if text and n.startswith(text)] or difflib.get_close_matches(text, names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ConfigError(f"config key '{key}' in {where} must be one of {', '.join(names)}, got {value!r}{hint}")


def _check_cpu_streams(value: Any, where: str) -> None:
    if value in (None, "auto") or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return
    raise _bad("cpu_streams", value, where, "auto or an integer >= 1")


def _check_cycles_schedule(value: Any, where: str) -> None:
    from hrm_engine.training.schedule import RULE, CyclesSchedule

    try:
        CyclesSchedule.parse(value)
    except ValueError as exc:
        raise ConfigError(f"config key 'cycles_schedule' in {where} must be {RULE}; {exc}, got {value!r} "
                          f"({RANGES_HINT})") from None


def _divisors_near(n: int, value: int) -> str:
    divisors = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0]
    divisors = sorted(set(divisors + [n // d for d in divisors]))
    below = [d for d in divisors if d < value][-1:]
    above = [d for d in divisors if d > value][:1]
    return " or ".join(str(d) for d in below + above)


def _check_cross(config: dict[str, Any], origin: Callable[[str], str], model_only: bool) -> None:
    """Rules that tie two keys together (the model's shapes, the reference's schedule)."""
    arch = config.get("arch") or {}
    hidden, heads = arch.get("hidden_size"), arch.get("num_heads")
    if isinstance(hidden, int) and isinstance(heads, int):
        if hidden % heads:
            raise ConfigError(f"arch.hidden_size={hidden} ({origin('arch.hidden_size')}) must be a multiple of "
                              f"arch.num_heads={heads} ({origin('arch.num_heads')}); change one of them")
        if arch.get("pos_encodings", "rope") in ("rope", "grid") and (hidden // heads) % 2:
            raise ConfigError(f"arch.hidden_size={hidden} ({origin('arch.hidden_size')}) / arch.num_heads={heads} "
                              f"({origin('arch.num_heads')}) = {hidden // heads}: the head size must be even with "
                              f"RoPE (it rotates pairs of channels); change one of them")
        expansion = arch.get("expansion")
        if isinstance(expansion, (int, float)) and round(expansion * hidden * 2 / 3) < 1:
            raise ConfigError(f"arch.expansion={expansion} ({origin('arch.expansion')}) gives a feed-forward layer of "
                              f"width 0 for hidden_size {hidden}; raise it (the reference uses 4)")
    epochs, interval = config.get("epochs"), config.get("eval_interval")
    if not model_only and isinstance(epochs, int) and isinstance(interval, int) and epochs % interval:
        raise ConfigError(f"eval_interval={interval} ({origin('eval_interval')}) must divide epochs={epochs} "
                          f"({origin('epochs')}), as the reference requires; try eval_interval="
                          f"{_divisors_near(epochs, interval)}, or eval_interval=null (evaluate at the end)")


def check_train_config(config: dict[str, Any], origin: str | Callable[[str], str] = "the config",
                       model_only: bool = False) -> dict[str, Any]:
    """Refuse any value out of its range (one ConfigError line naming the key, where it was set and the range).

    Nullable numbers given as `1e3` are typed in place. `origin` names where a key was set (a
    function of the dotted key, or one string for all). A config that is not a training config
    (the agent's) is returned untouched. With `model_only`, only the keys a loaded checkpoint uses.
    """
    if not is_train_config(config):
        return config
    where = origin if callable(origin) else (lambda _key, text=origin: text)

    def wanted(key: str) -> bool:
        return not model_only or any(key == k or key.startswith(k) for k in MODEL_KEYS)

    for key, rule in RANGES.items():
        present, value = _get(config, key)
        if not present or not wanted(key):
            continue
        value = _normalise(key, value, rule, where(key))
        if not rule.accepts(value):
            raise _bad(key, value, where(key), rule.describe())
        if rule.integer and value is not None:
            value = int(value)
        _set(config, key, value)
    for key in CHOICES:
        present, value = _get(config, key)
        if present and wanted(key):
            _check_choice(key, value, where(key))
    if "cpu_streams" in config:
        _check_cpu_streams(config["cpu_streams"], where("cpu_streams"))
    if "cycles_schedule" in config and not model_only:
        _check_cycles_schedule(config["cycles_schedule"], where("cycles_schedule"))
    _check_cross(config, where, model_only)
    return config


def origin_finder(preset: str | Path, user_file: str | Path | None, overrides: Iterable[str]) -> Callable[[str], str]:
    """Where a resolved key was set: the last override naming it, else the user file, else the preset."""
    import yaml

    overrides = list(overrides)
    tree: Any = {}
    if user_file is not None:
        try:
            tree = yaml.safe_load(Path(user_file).read_text()) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):  # resolve_config has refused it already
            pass
    file_keys = _flat_keys(tree)
    file_arch = isinstance(tree, dict) and isinstance(tree.get("arch"), str)  # `arch: NAME` sets every arch key

    def origin(key: str) -> str:
        for text in reversed(overrides):
            name = text.split("=", 1)[0].strip()
            if name == key or key.startswith(name + "."):
                return f"override '{text}'"
        if key in file_keys or (file_arch and key.startswith("arch.")):
            return str(user_file)
        return str(preset) if Path(str(preset)).suffix in (".yaml", ".yml") else f"preset {preset}"

    return origin


def _flat_keys(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return set()
    keys = set()
    for key, value in tree.items():
        keys.add(f"{prefix}{key}")
        keys |= _flat_keys(value, f"{prefix}{key}.")
    return keys


def resolve_train_config(preset: str | Path, user_file: str | Path | None = None,
                         overrides: Iterable[str] = ()) -> dict[str, Any]:
    """`resolve_config`, then every value checked against its range (skipped for non-training configs)."""
    from hrm_engine.config import resolve_config

    overrides = list(overrides)
    config = resolve_config(preset, user_file, overrides)
    return check_train_config(config, origin_finder(preset, user_file, overrides))
