"""Where a TRM training step's time goes on this CPU: matmul FLOPs, the matmul roofline, the rest.

    .venv/bin/python benchmarks/trm_roofline.py --config trm-sudoku9-fast --data data/sudoku9-medium-1k
    taskset -c 0 env OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/trm_roofline.py ... cpu_streams=1

For each depth stage of the preset (one row for a preset without `cycles_schedule`) it prints:
  - the matmul FLOPs of one training step, counted from the configuration (below);
  - the step's time, from `hrm bench train` (the compiled step of `hrm train`, the same data);
  - the GFLOP/s that step achieves, and its share of the machine's matmul roofline: `hrm doctor`'s figure,
    a 1024 x 1024 float32 matmul;
  - the time of the step's matmuls alone, at their own shapes and counts, run back to back as one compiled
    call on random inputs: what the step would take if everything but the matmuls cost nothing. Step time
    minus that is the rest (elementwise kernels, norms, transposes, the loss, the optimizers, the host).

The count (TRM's mlp_t network; `matmuls()`): one network call is L_layers blocks, each a SwiGLU over the
positions (on the transposed state: rows batch x hidden, width total_len, intermediate rounded up to 256) and
a SwiGLU over the features (rows batch x total_len, width hidden). A segment calls the network
H_cycles x (L_cycles + 1) times, then the output head on the answer positions; the last cycle (L_cycles + 1
calls) and the head are differentiated: two matmuls of the same FLOPs per forward matmul (input and weight
gradients). TRM's halting head (a 2-wide row per sequence) and attention-free blocks add nothing measurable.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def matmuls(arch: dict, batch: int, total_len: int, seq_len: int, vocab: int, H_cycles: int,
            L_cycles: int) -> list[tuple[int, int, int, int, str]]:
    """(rows, inner, cols, count, what) of every matmul of one training step (forward and backward)."""
    from hrm_engine.models.layers import swiglu_intermediate  # the widths the model itself builds

    D, L, layers = int(arch["hidden_size"]), total_len, int(arch["L_layers"])
    inter = swiglu_intermediate(D, float(arch["expansion"]))
    inter_t = swiglu_intermediate(L, float(arch["expansion"]))
    calls, grad_calls = H_cycles * (L_cycles + 1), L_cycles + 1
    forward = [(batch * D, L, 2 * inter_t, "mlp_t gate_up"), (batch * D, inter_t, L, "mlp_t down"),
               (batch * L, D, 2 * inter, "mlp gate_up"), (batch * L, inter, D, "mlp down")]
    out = [(m, k, n, calls * layers, f"{what} forward") for m, k, n, what in forward]
    for m, k, n, what in forward:  # dX = dY W^T (m x n x k) and dW = X^T dY (k x m x n)
        out.append((m, n, k, grad_calls * layers, f"{what} input gradient"))
        out.append((k, m, n, grad_calls * layers, f"{what} weight gradient"))
    head = (batch * seq_len, D, vocab)
    out += [(*head, 1, "lm_head forward"), (head[0], vocab, D, 1, "lm_head input gradient"),
            (D, head[0], vocab, 1, "lm_head weight gradient")]
    return out


def flops(mms: list[tuple[int, int, int, int, str]]) -> float:
    return float(sum(2 * m * k * n * c for m, k, n, c, _ in mms))


def time_matmuls(mms: list[tuple[int, int, int, int, str]], repeats: int) -> float:
    """Seconds for all of a step's matmuls, back to back (one compiled call, inputs made once)."""
    import mlx.core as mx

    pairs = [(mx.random.normal((m, k)), mx.random.normal((k, n)), c) for m, k, n, c, _ in mms]
    mx.eval([p[:2] for p in pairs])

    @mx.compile
    def run(*arrays):
        outs = []
        for i, (_, _, c) in enumerate(pairs):
            a, b = arrays[2 * i], arrays[2 * i + 1]
            for j in range(c):  # distinct inputs per repeat, so no call is merged with another
                outs.append((a * (1.0 + j * 1e-3)) @ b)
        return [o.sum() for o in outs]

    args = [x for a, b, _ in pairs for x in (a, b)]
    mx.eval(run(*args))
    start = time.perf_counter()
    for _ in range(repeats):
        mx.eval(run(*args))
    return (time.perf_counter() - start) / repeats


def step_times(config: str, data: Path, steps: int, overrides: list[str]) -> dict:
    """`hrm bench train --json` for the preset: s/step of each depth stage (or of the one step)."""
    hrm = Path(sys.executable).with_name("hrm")
    cmd = [str(hrm), "bench", "train", "--config", config, "--data", str(data), "--steps", str(steps), "--json",
           *overrides]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    r = json.loads(done.stdout)
    return r[0] if isinstance(r, list) else r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="trm-sudoku9-fast", help="a TRM preset (mlp_t)")
    p.add_argument("--data", type=Path, required=True, help="the dataset the preset trains on")
    p.add_argument("--steps", type=int, default=30, help="timed steps per stage in hrm bench train")
    p.add_argument("--repeats", type=int, default=10, help="timed repeats of the matmuls-only call")
    p.add_argument("--json", action="store_true")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (e.g. cpu_streams=1)")
    args = p.parse_args(argv)

    import hrm_engine.cpu as cpu

    cpu.setup()
    from hrm_datasets.format import load_metadata
    from hrm_engine.config_ranges import resolve_train_config
    from hrm_engine.cpu import blas
    from hrm_engine.errors import HRMError

    try:
        cfg = resolve_train_config(args.config, None, args.overrides)
        meta = load_metadata(args.data, "train")
    except HRMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    arch = cfg["arch"]
    if not arch.get("mlp_t"):
        print(f"error: {args.config} is not an mlp_t TRM; this count covers TRM's Sudoku network only", file=sys.stderr)
        return 2
    total_len = meta.seq_len + int(arch.get("puzzle_emb_len") or 0)
    batch = int(cfg["global_batch_size"])
    stages = cfg.get("cycles_schedule") or [[0.0, arch["H_cycles"], arch["L_cycles"]]]
    bench = step_times(args.config, args.data, args.steps, args.overrides)
    timed = bench.get("stages") or [{"s_per_step": bench["s_per_step"]}]
    gflops = blas.measure_matmul_gflops(1024, 20)
    rows = []
    for (start, H, Lc), t in zip(stages, timed):
        mms = matmuls(arch, batch, total_len, meta.seq_len, meta.vocab_size, int(H), int(Lc))
        f, mm_s = flops(mms), time_matmuls(mms, args.repeats)
        s = float(t["s_per_step"])
        rows.append({"stage": f"{H}x{Lc} from {start:g}", "gflop_per_step": f / 1e9, "s_per_step": s,
                     "achieved_gflops": f / s / 1e9, "roofline_share": f / s / 1e9 / gflops,
                     "matmul_only_s": mm_s, "matmul_share_of_step": mm_s / s,
                     "matmul_gflops_at_these_shapes": f / mm_s / 1e9})
    result = {"config": args.config, "data": str(args.data), "batch": batch, "total_len": total_len,
              "blas": blas.info().name, "matmul_gflops_1024": gflops,
              "stages": rows}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.config} on {args.data}: batch {batch}, {total_len} positions; 1024^2 matmul {gflops:.1f} GFLOP/s")
    print(f"{'stage':<12} {'GFLOP/step':>10} {'s/step':>7} {'GFLOP/s':>8} {'roofline':>9} {'matmuls':>8} "
          f"{'share':>6} {'GFLOP/s at shapes':>18}")
    for r in rows:
        print(f"{r['stage']:<12} {r['gflop_per_step']:>10.2f} {r['s_per_step']:>7.3f} {r['achieved_gflops']:>8.1f} "
              f"{r['roofline_share']:>9.0%} {r['matmul_only_s']:>7.3f}s {r['matmul_share_of_step']:>6.0%} "
              f"{r['matmul_gflops_at_these_shapes']:>18.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
