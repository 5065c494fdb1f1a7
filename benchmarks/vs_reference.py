"""Training-step throughput: the reference PyTorch HRM against `hrm`, same config, batch and device, one run.

    .venv/bin/python benchmarks/vs_reference.py --reference /path/to/sapientinc-HRM \
        --torch-python /path/to/venv-with-torch/bin/python --batch 32 --steps 3

The reference side runs sapientinc/HRM's own model and loss head (`HierarchicalReasoningModel_ACTV1`
inside `ACTLossHead`) in a PyTorch interpreter you name: the training step of its pretrain.py
(carry kept across steps, loss / global batch, backward, the network optimizer, and its own sparse
sign-SGD for the puzzle embedding). FlashAttention is replaced by PyTorch's scaled-dot-product
attention when it is not installed (always on CPU). Its `adam-atan2` package does not install, so
the network optimizer is `torch.optim.Adam` (the same memory traffic and cost class; say so when
quoting). The `hrm` side is `hrm bench train` on the preset with the same batch, as a subprocess.
Both print tokens/s and peak memory (CPU: max RSS; GPU: allocator peak); the ratio is hrm / reference.
A torch for CPU installs from a local file on these machines with `pip install torch==2.13.0 pydantic`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

SUDOKU = {"seq_len": 81, "vocab_size": 11, "num_puzzle_identifiers": 1, "puzzle_emb_ndim": 512,
          "H_cycles": 2, "L_cycles": 2, "H_layers": 4, "L_layers": 4, "hidden_size": 512, "expansion": 4,
          "num_heads": 8, "pos_encodings": "rope", "halt_max_steps": 16, "halt_exploration_prob": 0.1}


def torch_worker(args: argparse.Namespace) -> dict:
    """Runs inside the PyTorch interpreter: the reference's training step, timed."""
    import resource

    import torch

    sys.path.insert(0, str(args.reference))
    cuda = torch.cuda.is_available() and args.device != "cpu"
    device = "cuda" if cuda else "cpu"
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    import flash_attn_stub

    attention = "sdpa" if flash_attn_stub.install() else "flash_attn"
    from models.hrm.hrm_act_v1 import HierarchicalReasoningModel_ACTV1
    from models.losses import ACTLossHead
    from models.sparse_embedding import CastedSparseEmbeddingSignSGD_Distributed

    dtype = args.dtype if args.dtype != "auto" else ("bfloat16" if cuda else "float32")
    cfg = {**SUDOKU, "batch_size": args.batch, "forward_dtype": dtype}
    torch.manual_seed(0)
    with torch.device(device):
        head = ACTLossHead(HierarchicalReasoningModel_ACTV1(cfg), loss_type="stablemax_cross_entropy")
    head.train()
    opt = torch.optim.Adam([p for n, p in head.named_parameters() if "puzzle_emb" not in n], lr=1e-4,
                           betas=(0.9, 0.95), weight_decay=0.0)
    sparse = CastedSparseEmbeddingSignSGD_Distributed(head.model.puzzle_emb.buffers(), lr=1e-4, weight_decay=0.1,
                                                      world_size=1)
    g = torch.Generator().manual_seed(0)
    batch = {"inputs": torch.randint(1, 11, (args.batch, 81), generator=g).to(device),
             "labels": torch.randint(1, 11, (args.batch, 81), generator=g).to(device),
             "puzzle_identifiers": torch.zeros(args.batch, dtype=torch.int32).to(device)}
    with torch.device(device):
        carry = head.initial_carry(batch)

    def step():
        nonlocal carry
        carry, loss, metrics, _, _ = head(carry=carry, batch=batch, return_keys=[])
        ((1 / args.batch) * loss).backward()
        opt.step()
        sparse.step()
        opt.zero_grad()
        sparse.zero_grad()
        if cuda:
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = (time.perf_counter() - t0) / args.steps
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"impl": "reference (PyTorch)", "torch": torch.__version__, "device": device, "dtype": dtype,
            "attention": attention, "threads": torch.get_num_threads(), "s_per_step": seconds,
            "tokens_per_s": args.batch * 81 / seconds, "peak_memory_mb": peak}


def hrm_side(args: argparse.Namespace) -> dict:
    hrm = Path(sys.executable).with_name("hrm")
    cmd = [str(hrm), "bench", "train", "--config", "hrm-sudoku", "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--json", f"global_batch_size={args.batch}"]
    if args.dtype != "auto":
        cmd.append(f"arch.forward_dtype={args.dtype}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    r = r[0] if isinstance(r, list) else r
    device = "cuda" if "gpu" in str(r.get("device")) else "cpu"  # MLX says Device(gpu, 0); name it as torch does
    return {"impl": "hrm (MLX)", "device": device, "gpu": r.get("gpu"), "dtype": r.get("dtype"), "blas": r.get("blas"),
            "s_per_step": r["s_per_step"], "tokens_per_s": r["tokens_per_s"], "peak_memory_mb": r["peak_memory_mb"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", type=Path, required=True, help="a checkout of sapientinc/HRM")
    p.add_argument("--torch-python", default=sys.executable, help="Python with torch and pydantic")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--worker", choices=["torch"], help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=1,
                   help="alternate reference and hrm this many times; medians are reported (CPU timings drift)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.worker == "torch":
        print(json.dumps(torch_worker(args)))
        return 0
    if not (args.reference / "models" / "hrm" / "hrm_act_v1.py").is_file():
        print(f"error: {args.reference} is not a sapientinc/HRM checkout (no models/hrm/hrm_act_v1.py)",
              file=sys.stderr)
        return 2
    worker = [args.torch_python, __file__, "--worker", "torch", "--reference", str(args.reference), "--batch",
              str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup), "--dtype", args.dtype,
              "--device", args.device]
    rounds = []
    for _ in range(max(1, args.rounds)):
        out = subprocess.run(worker, capture_output=True, text=True, check=True).stdout
        ref = json.loads(out.strip().splitlines()[-1])
        rounds.append({"reference": ref, "hrm": hrm_side(args)})
    ref_tps = statistics.median(r["reference"]["tokens_per_s"] for r in rounds)
    hrm_tps = statistics.median(r["hrm"]["tokens_per_s"] for r in rounds)
    result = {"batch": args.batch, "rounds": rounds, "reference_tokens_per_s": ref_tps, "hrm_tokens_per_s": hrm_tps,
              "ratio": hrm_tps / ref_tps}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"Sudoku config, batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up, "
          f"{len(rounds)} round(s) alternating")
    for i, r in enumerate(rounds, 1):
        for side in (r["reference"], r["hrm"]):
            print(f"  {i:>2} {side['impl']:<20} {side['device']:<8} {side['dtype']:<9} {side['s_per_step']:7.2f} s/step "
                  f"{side['tokens_per_s']:8.1f} tokens/s  peak {side['peak_memory_mb']:8.0f} MB")
    if len(rounds) > 1:
        print(f"  median tokens/s: reference {ref_tps:.1f}, hrm {hrm_tps:.1f}")
    print(f"  hrm / reference: {result['ratio']:.2f}x")
    return 0

if __name__ == "__main__":
    sys.exit(main())
