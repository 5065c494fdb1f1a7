"""FlashAttention for the reference PyTorch HRM, on machines without it (no CUDA, or not installed).

sapientinc/HRM imports `flash_attn_func` from `flash_attn_interface`. This registers a module of that name whose
function is PyTorch's scaled-dot-product attention, so the reference's model runs anywhere torch does. Shared by
the standalone torch scripts `tools/make_parity_fixture.py` and `benchmarks/vs_reference.py`.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def install() -> bool:
    """Make `from flash_attn_interface import flash_attn_func` work; True if PyTorch's SDPA stands in for it.

    The real FlashAttention is kept only where it can run: installed, with a CUDA device.
    """
    import torch
    import torch.nn.functional as F

    if importlib.util.find_spec("flash_attn_interface") and torch.cuda.is_available():
        return False

    def flash_attn_func(q, k, v, causal=False, softmax_scale=None, **_unused):
        # FlashAttention layout [B, S, H, hd]; SDPA wants [B, H, S, hd]. Default scale 1/sqrt(hd) in both.
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                             is_causal=causal, scale=softmax_scale)
        return out.transpose(1, 2).contiguous()

    stub = types.ModuleType("flash_attn_interface")
    stub.flash_attn_func = flash_attn_func
    sys.modules["flash_attn_interface"] = stub
    return True
