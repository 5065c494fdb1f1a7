"""Which architecture a config names (`arch.name: hrm... | trm...`), and the one place models are built.

`hrm train`, `hrm eval`, `hrm solve` and checkpoint loading all go through `new_model`, so the ACT
wrapper, loss, trainer and rollout never need to know which architecture they drive. The CPU speed-ups
(hrm_engine.cpu.accelerate: fused kernels, batch shards on CPU streams) are applied here, from outside the
model files.
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


def model_from_args(args: Any) -> Any:
    """The model for an args dataclass (freshly initialised from MLX's current seed)."""
    from hrm_engine.models.trm import TRM, TRMConfig

    if isinstance(args, TRMConfig):
        return TRM(args)
    from hrm_engine.models.hrm import HRM

    return HRM(args)


def new_model(config: dict[str, Any], metadata: Any, forward_dtype: str | None = None, cpu: bool = True) -> Any:
    """A freshly initialised model of the configured architecture, the CPU speed-ups applied unless `cpu` is off."""
    model = model_from_args(model_config(config, metadata, forward_dtype))
    if cpu:
        from hrm_engine.cpu import accelerate

        accelerate(model, config)
    return model


def uses_ema(config: dict[str, Any]) -> bool:
    """`ema: null` (the default) means on for TRM (its recipes all set ema=True), off for HRM."""
    ema = config.get("ema")
    return arch_family(config) == "trm" if ema is None else bool(ema)
