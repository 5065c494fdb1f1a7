"""Which architecture a config names (`arch.name: hrm... | trm...`), and the one place models are built.

`hrm train`, `hrm eval`, `hrm solve` and checkpoint loading all go through `new_model`, so the ACT
wrapper, loss, trainer and rollout never need to know which architecture they drive. It is also the one
place the CPU speed-ups are chosen (`model_from_args`): the config's `cpu_math` picks the layers' kernels
(hrm_engine.cpu.kernels or MLX's own) and `cpu_streams` the batch shards (hrm_engine.cpu.streams), both
passed to the model's constructor.
"""

from __future__ import annotations

from typing import Any

from hrm_engine.errors import ConfigError

ARCHS = ("hrm", "trm")


def arch_family(config: dict[str, Any]) -> str:
    """`hrm` or `trm` from `arch.name` (`hrm_v1`, `hrm_tiny`, `trm`, `trm_tiny`...); HRM when unnamed."""
    arch = config.get("arch", config)
    name = str(arch.get("name") or "hrm").lower() if isinstance(arch, dict) else "hrm"
    family = name.split("_", 1)[0].split("-", 1)[0]
    if family not in ARCHS:
        raise ConfigError(f"arch.name={name!r} names no architecture; it must start with hrm or trm")
    return family


def model_config(config: dict[str, Any], metadata: Any, forward_dtype: str | None = None) -> Any:
    """The architecture's args dataclass (ModelConfig or TRMConfig) for a resolved config and dataset."""
    if arch_family(config) == "trm":
        from hrm_engine.models.trm import TRMConfig

        return TRMConfig.from_config(config, metadata, forward_dtype)
    from hrm_engine.models.hrm import ModelConfig

    return ModelConfig.from_config(config, metadata, forward_dtype)


def model_from_args(args: Any, config: dict[str, Any] | None = None) -> Any:
    """The model for an args dataclass (freshly initialised from MLX's current seed), with the kernels and
    batch shards that `config`'s `cpu_math` and `cpu_streams` choose (absent keys: auto). `config=None`:
    MLX's own kernels on one stream (the same results, slower on a CPU)."""
    from hrm_engine.cpu import kernels as cpu_kernels
    from hrm_engine.cpu.streams import Shards
    from hrm_engine.models.layers import BUILTIN, Kernels
    from hrm_engine.models.trm import TRM, TRMConfig

    kernels, shards = BUILTIN, Shards()
    if config is not None:
        if cpu_kernels.use_fused(config.get("cpu_math", "auto")):
            kernels = Kernels(silu=cpu_kernels.silu, rope_heads=cpu_kernels.rope_heads,
                              attention=cpu_kernels.attention)
        shards = Shards.for_setting(config.get("cpu_streams", "auto"))
    if isinstance(args, TRMConfig):
        return TRM(args, kernels, shards)
    from hrm_engine.models.hrm import HRM

    return HRM(args, kernels, shards)


def new_model(config: dict[str, Any], metadata: Any, forward_dtype: str | None = None, cpu: bool = True) -> Any:
    """A freshly initialised model of the configured architecture, with the CPU speed-ups the config chooses
    (`cpu=False`: MLX's own kernels on one stream, for a model that only carries weights)."""
    return model_from_args(model_config(config, metadata, forward_dtype), config if cpu else None)


def uses_ema(config: dict[str, Any]) -> bool:
    """`ema: null` (the default) means on for TRM (its recipes all set ema=True), off for HRM."""
    ema = config.get("ema")
    return arch_family(config) == "trm" if ema is None else bool(ema)
