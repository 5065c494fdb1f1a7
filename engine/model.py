"""Old import path, kept for one release: HRM now lives in hrm_engine.models.hrm, its layers in
hrm_engine.models.layers and base.py, and the CPU speed-ups in hrm_engine.cpu (chosen by the model builder).

`from hrm_engine.model import HRM, ModelConfig` keeps working; new code imports from hrm_engine.models.
"""

from hrm_engine.models.base import count_parameters, resolve_dtype  # noqa: F401
from hrm_engine.models.hrm import HRM, Block, ModelConfig  # noqa: F401
from hrm_engine.models.layers import (TRUNC_STD_FACTOR, Attention, Linear, ReasoningModule, SwiGLU,  # noqa: F401
                                      rms_norm, swiglu_intermediate, trunc_normal)
