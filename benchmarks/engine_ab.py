"""Training-step throughput of two hrm trees (before and after a change), and optionally the reference, in one run.

    git worktree add /tmp/hrm-before c6a175a
    .venv/bin/python benchmarks/engine_ab.py --before /tmp/hrm-before --rounds 3
    # with the reference too (a sapientinc/HRM checkout, a Python with torch and pydantic; see vs_reference.py)
    .venv/bin/python benchmarks/engine_ab.py --before /tmp/hrm-before --reference ../HRM \
        --torch-python ../torchvenv/bin/python --rounds 5

Each round runs every side once, in turn (before, after, reference), so drift on a shared CPU hits all sides
alike; the medians over rounds are what to compare. Each hrm side is `hrm bench train --config hrm-sudoku`
(same batch, steps and warm-up) run from that tree's own source folders, with this interpreter and its
installed packages (MLX, numpy...). The reference side is vs_reference.py's worker: sapientinc/HRM's own model
and loss head on PyTorch.

The matmul roofline share: the tokens/s the step's matmul FLOPs allow at this machine's measured float32
matmul rate (MLX, 1024^2, all cores, measured once at the start), and each median as a share of it.

`--graph` checks, without timing anything, that both trees build the same MLX op graph for one training segment
(forward, Q target, loss and every gradient, default CPU settings) of the HRM and TRM Sudoku presets: the same
ops with the same edges means the same kernels run, whatever the timings on a busy machine say.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The installed names of the source folders (pyproject.toml's package-dir).
PACKAGES = {"hrm_cli": "hrm_cli", "hrm_engine": "engine", "hrm_agent": "agent", "hrm_datasets": "datasets",
            "hrm_configs": "configs"}
BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); sys.argv = ['hrm', *sys.argv[2:]]; "
        "from hrm_cli.main import main; main()")
WHERE = "import sys; sys.path.insert(0, sys.argv[1]); import hrm_engine; print(list(hrm_engine.__path__)[0])"
GFLOPS = ("import sys; sys.path.insert(0, sys.argv[1]); import hrm_engine.cpu as cpu; cpu.setup(); "
          "from hrm_engine.cpu import blas; print(blas.measure_matmul_gflops(1024, 20))")


GRAPH = """
import sys
sys.path.insert(0, sys.argv[1])
try:
    import hrm_engine.cpu as cpu
    cpu.setup()
except ImportError:  # a tree from before hrm_engine.cpu
    from hrm_engine import blas
    blas.preload()
from types import SimpleNamespace
import mlx.core as mx
from mlx.utils import tree_flatten
from hrm_engine.act import initial_carry, reset_halted, segment_step
from hrm_engine.config import resolve_config
from hrm_engine.losses import act_loss
from hrm_engine.models.build import new_model
mx.random.seed(0)
model = new_model(resolve_config(sys.argv[2]), SimpleNamespace(seq_len=81, vocab_size=11, num_puzzle_identifiers=3))
batch = {"inputs": mx.random.randint(1, 11, (4, 81)), "labels": mx.random.randint(1, 11, (4, 81)),
         "puzzle_identifiers": mx.zeros((4,), mx.int32)}
carry = reset_halted(model, initial_carry(model, batch), batch)
def loss(params, rows):
    model.update(params)
    new, out = segment_step(model, carry, rows, training=True, key=mx.random.key(1))
    return act_loss(out, new["labels"], new["halted"], new["steps"], model.config.loss)[0]
value, (grads, row_grads) = mx.value_and_grad(loss, argnums=(0, 1))(model.trainable_parameters(),
                                                                    model.puzzle_emb[carry["puzzle_identifiers"]])
mx.export_to_dot(sys.argv[3], value, row_grads, *[g for _, g in tree_flatten(grads)])
"""


def graph_summary(dot: Path) -> tuple[collections.Counter, collections.Counter]:
    """(op label -> count, (op, op) edge -> count) of an `mx.export_to_dot` file: node ids left out."""
    labels, edges = {}, []
    for line in dot.read_text().splitlines():
        node = re.search(r'\{ (\S+) \[label ="([^"]*)"', line)
        if node:
            labels[node.group(1)] = node.group(2)
            continue
        edge = re.match(r'\s*"?([^"\s]+)"? -> "?([^"\s]+)"?', line)
        if edge:
            edges.append((edge.group(1), edge.group(2)))
    return (collections.Counter(labels.values()),
            collections.Counter((labels.get(a, "input"), labels.get(b, "input")) for a, b in edges))


def compare_graphs(roots: dict[str, Path], tmp: Path) -> bool:
    """Print, per preset, whether the two trees' training-segment graphs have the same ops and edges."""
    same = True
    for preset in ("hrm-sudoku", "trm-sudoku"):
        summary = {}
        for name, root in roots.items():
            dot = tmp / f"{name}-{preset}.dot"
            subprocess.run([sys.executable, "-c", GRAPH, str(root), preset, str(dot)], check=True,
                           capture_output=True, text=True)
            summary[name] = graph_summary(dot)
        (ops_b, edges_b), (ops_a, edges_a) = summary["before"], summary["after"]
        ok = ops_b == ops_a and edges_b == edges_a
        same &= ok
        print(f"  {preset}: {sum(ops_b.values())} ops before, {sum(ops_a.values())} after: "
              + ("the same ops and edges" if ok else f"differ (only before: {dict(ops_b - ops_a)}, "
                                                   f"only after: {dict(ops_a - ops_b)})"))
    return same


def import_root(tree: Path, into: Path) -> Path:
    """A folder of links under the installed names to `tree`'s source folders, to put first on sys.path."""
    into.mkdir(parents=True, exist_ok=True)
    for name, folder in PACKAGES.items():
        (into / name).symlink_to(tree.resolve() / folder, target_is_directory=True)
    where = subprocess.run([sys.executable, "-c", WHERE, str(into)], capture_output=True, text=True, check=True)
    got = Path(where.stdout.strip()).resolve()
    if got != (tree / "engine").resolve():
        raise SystemExit(f"error: hrm_engine from {into} resolved to {got}, not {tree}/engine")
    return into


def matmul_flops_per_token(D: int = 512, expansion: float = 4.0, H_layers: int = 4, L_layers: int = 4,
                           H_cycles: int = 2, L_cycles: int = 2, seq: int = 81, prefix: int = 1,
                           vocab: int = 11) -> float:
    """Matmul FLOPs of one HRM training step per sequence token: the segment (forward), its one-step
    gradient (backward of the last L and H call, twice their forward) and the Q-target segment."""
    inter = -(-round(expansion * D * 2 / 3) // 256) * 256
    L = seq + prefix
    qkv, out, mlp, attn = 2 * D * 3 * D, 2 * D * D, 2 * D * 2 * inter + 2 * inter * D, 4 * L * D  # per position
    block = qkv + out + mlp + attn
    forward_blocks = H_cycles * L_cycles * L_layers + H_cycles * H_layers
    lm_head = 2 * D * vocab
    segment = forward_blocks * block + lm_head
    backward = 2 * ((L_layers + H_layers) * block + lm_head)
    q_target = (forward_blocks - 1) * block + (2 / 3) * qkv + (qkv / 3 + out + mlp + attn) / L  # last block: row 0
    return (segment + backward + q_target) * L / seq


def hrm_side(name: str, root: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-c", BOOT, str(root), "bench", "train", "--config", "hrm-sudoku", "--steps",
           str(args.steps), "--warmup", str(args.warmup), "--json", f"global_batch_size={args.batch}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: the {name} side failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    r = json.loads(done.stdout)
    r = r[0] if isinstance(r, list) else r
    return {"side": name, "tokens_per_s": r["tokens_per_s"], "s_per_step": r["s_per_step"],
            "peak_memory_mb": r.get("peak_memory_mb"), "blas": r.get("blas")}


def reference_side(args: argparse.Namespace) -> dict:
    worker = [args.torch_python, str(ROOT / "benchmarks" / "vs_reference.py"), "--worker", "torch", "--reference",
              str(args.reference), "--batch", str(args.batch), "--steps", str(args.steps), "--warmup",
              str(args.warmup), "--dtype", "float32", "--device", "cpu"]
    done = subprocess.run(worker, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: the reference side failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    return {"side": "reference", "tokens_per_s": r["tokens_per_s"], "s_per_step": r["s_per_step"],
            "peak_memory_mb": r.get("peak_memory_mb"), "blas": f"torch {r.get('torch')}"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=Path, required=True, help="an hrm checkout (e.g. a git worktree of the old commit)")
    p.add_argument("--after", type=Path, default=ROOT, help="an hrm checkout (default: this one)")
    p.add_argument("--reference", type=Path, help="a sapientinc/HRM checkout (optional third side)")
    p.add_argument("--torch-python", default=sys.executable, help="Python with torch and pydantic, for --reference")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.add_argument("--graph", action="store_true", help="compare the two trees' op graphs instead of timing them")
    args = p.parse_args(argv)
    for tree in (args.before, args.after):
        if not (tree / "engine").is_dir() or not (tree / "hrm_cli" / "main.py").is_file():
            print(f"error: {tree} is not an hrm checkout (no engine/ and hrm_cli/main.py)", file=sys.stderr)
            return 2
    if args.reference is not None and not (args.reference / "models" / "hrm" / "hrm_act_v1.py").is_file():
        print(f"error: {args.reference} is not a sapientinc/HRM checkout (no models/hrm/hrm_act_v1.py)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hrm-ab-") as tmp:
        roots = {"before": import_root(args.before, Path(tmp) / "before"),
                 "after": import_root(args.after, Path(tmp) / "after")}
        if args.graph:
            print("one HRM/TRM training segment (forward, Q target, loss, gradients), op graphs:")
            return 0 if compare_graphs(roots, Path(tmp)) else 1
        gflops = float(subprocess.run([sys.executable, "-c", GFLOPS, str(roots["after"])], capture_output=True,
                                      text=True, check=True).stdout.strip())
        rounds = []
        for _ in range(max(1, args.rounds)):
            row = [hrm_side(name, root, args) for name, root in roots.items()]
            if args.reference is not None:
                row.append(reference_side(args))
            rounds.append(row)
    sides = [r["side"] for r in rounds[0]]
    medians = {s: statistics.median(r[i]["tokens_per_s"] for r in rounds) for i, s in enumerate(sides)}
    roofline = gflops * 1e9 / matmul_flops_per_token()
    result = {"batch": args.batch, "steps": args.steps, "warmup": args.warmup, "rounds": rounds,
              "median_tokens_per_s": medians, "matmul_gflops": gflops, "roofline_tokens_per_s": roofline,
              "roofline_share": {s: v / roofline for s, v in medians.items()},
              "after_over_before": medians["after"] / medians["before"]}
    if "reference" in medians:
        result["after_over_reference"] = medians["after"] / medians["reference"]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"hrm-sudoku, batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up, "
          f"{len(rounds)} round(s), sides alternating")
    for i, row in enumerate(rounds, 1):
        print(f"  round {i}: " + "   ".join(f"{r['side']} {r['tokens_per_s']:7.1f} tokens/s" for r in row))
    print(f"  matmul: {gflops:.1f} GFLOP/s measured, {matmul_flops_per_token() / 1e6:.0f} MFLOP per token "
          f"-> roofline {roofline:.1f} tokens/s")
    for s in sides:
        print(f"  median {s:<9} {medians[s]:7.1f} tokens/s  ({medians[s] / roofline:.0%} of the matmul roofline)")
    print(f"  after / before: {result['after_over_before']:.3f}x")
    if "after_over_reference" in result:
        print(f"  after / reference: {result['after_over_reference']:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
