"""Make a numerical-parity fixture from a local checkout of the reference HRM (sapientinc/HRM).

Runs the reference's own model and loss head (`models/hrm/hrm_act_v1.py`, `models/losses.py`) on the CPU
in float32 and writes what `hrm parity FIXTURE_DIR` compares against (docs/parity.md):

    config.json          the reference model config dict
    weights.safetensors  the ACTLossHead state_dict (reference names)
    batch.npz            inputs, labels (-100 = ignored), puzzle_identifiers
    eval.npz             eval mode from the initial carry: logits_s, q_halt_s, q_continue_s, halted_s per segment,
                         then the final z_H, z_L
    train.npz            training mode, exploration off, two segments through the loss head: loss_s,
                         metric_<name>_s, halted_s, steps_s
    grads1.safetensors   gradients after loss_0.backward(), plus model.inner.puzzle_emb.local_weights

Needs PyTorch, pydantic, numpy and safetensors, not the reference's CUDA extras: FlashAttention is replaced by
torch's scaled_dot_product_attention when it is not installed. Run it with a separate venv, for example

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 pydantic numpy safetensors
    /tmp/torchvenv/bin/python tools/make_parity_fixture.py --reference /tmp/HRM \\
        --out tests/fixtures/parity/h64 --config '{"hidden_size": 64, "num_heads": 4}'

With `--arch trm` and `--reference` a checkout of SamsungSAILMontreal/TinyRecursiveModels (e7b6871) it records
TRM's own model (`models/recursive_reasoning/trm.py`) and loss head instead, over TRM_DEFAULTS (tiny sizes; `mlp_t`,
`puzzle_emb_len`, `no_ACT_continue` as its config/arch/trm.yaml names them); TRM needs einops but no FlashAttention:

    /tmp/torchvenv/bin/pip install einops
    /tmp/torchvenv/bin/python tools/make_parity_fixture.py --arch trm --reference /tmp/TinyRecursiveModels \\
        --out tests/fixtures/trm_parity/h64-mlpt-act3 --config '{"mlp_t": true, "pos_encodings": "none"}'

`--config` takes a JSON object or comma-separated key=value pairs; unset keys take the defaults below.
The weights are the reference's own initialisation from `--seed`, with the puzzle-embedding table and the Q head
randomised (the reference initialises both to constants, which would hide their code paths). Labels of two rows
are set to the model's own first-segment predictions so that exact-accuracy and the Q-halt target are exercised,
and the last row has no labels at all. Seeds are retried until no comparison sits on a knife edge (a near-tie
in argmax, in q_halt vs q_continue or in the sign of q_halt), so discrete outcomes are stable across frameworks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import flash_attn_stub  # a sibling module: this script runs as `python tools/make_parity_fixture.py`

DEFAULTS = {
    "batch_size": 4, "seq_len": 16, "puzzle_emb_ndim": None, "num_puzzle_identifiers": 5, "vocab_size": 10,
    "H_cycles": 2, "L_cycles": 2, "H_layers": 1, "L_layers": 1, "hidden_size": 64, "expansion": 4.0,
    "num_heads": 4, "pos_encodings": "rope", "halt_max_steps": 3, "halt_exploration_prob": 0.1,
    "forward_dtype": "float32", "causal": False,
}
CONFIG_KEYS = tuple(DEFAULTS)
# TinyRecursiveModels (`--arch trm`): its config/arch/trm.yaml keys, tiny sizes; `name` marks the fixture as TRM's.
TRM_DEFAULTS = {
    "name": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    "batch_size": 4, "seq_len": 16, "puzzle_emb_ndim": None, "num_puzzle_identifiers": 5, "vocab_size": 10,
    "H_cycles": 3, "L_cycles": 2, "H_layers": 0, "L_layers": 2, "hidden_size": 64, "expansion": 4.0,
    "num_heads": 4, "pos_encodings": "rope", "halt_max_steps": 3, "halt_exploration_prob": 0.1,
    "forward_dtype": "float32", "mlp_t": False, "puzzle_emb_len": 2, "no_ACT_continue": True,
}
OPTIONAL_KEYS = ("rope_theta", "rms_norm_eps", "loss_type")  # written to config.json only when given
RESIDUAL_SCALE = 0.3  # damps the recurrence so fp32 round-off does not grow chaotically over many segments
MARGIN = 1e-3  # smallest gap allowed in any discrete decision (relative to the logits' scale for argmax)


def is_trm(cfg: dict) -> bool:
    return "trm" in str(cfg.get("name", ""))


def parse_config(text: str | None, defaults: dict | None = None) -> dict:
    """A JSON object or `k=v,k=v` (values read as JSON where possible) over DEFAULTS (or TRM_DEFAULTS)."""
    defaults = defaults or DEFAULTS
    cfg = dict(defaults)
    if text:
        text = text.strip()
        if text.startswith("{"):
            given = json.loads(text)
        else:
            given = {}
            for part in filter(None, (p.strip() for p in text.split(","))):
                key, _, raw = part.partition("=")
                try:
                    given[key.strip()] = json.loads(raw)
                except json.JSONDecodeError:
                    given[key.strip()] = raw
        unknown = sorted(set(given) - set(defaults) - set(OPTIONAL_KEYS))
        if unknown:
            raise SystemExit(f"unknown config keys: {', '.join(unknown)}; valid: {', '.join((*defaults, *OPTIONAL_KEYS))}")
        cfg.update(given)
    if cfg["puzzle_emb_ndim"] is None:
        cfg["puzzle_emb_ndim"] = cfg["hidden_size"]
    return cfg


def build(reference: Path, cfg: dict, seed: int, residual_scale: float = 1.0):
    """The reference ACTLossHead around HierarchicalReasoningModel_ACTV1, weights from `seed`."""
    import torch

    sys.path.insert(0, str(reference))
    from models.losses import ACTLossHead

    if is_trm(cfg):
        from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1 as Model
    else:
        from models.hrm.hrm_act_v1 import HierarchicalReasoningModel_ACTV1 as Model

    torch.manual_seed(seed)
    model = Model({k: v for k, v in cfg.items() if k not in ("loss_type", "name")})
    head = ACTLossHead(model, loss_type=cfg.get("loss_type", "stablemax_cross_entropy"))
    inner = model.inner
    with torch.no_grad():
        D = cfg["hidden_size"]
        inner.puzzle_emb.weights.copy_(0.5 * torch.randn_like(inner.puzzle_emb.weights))
        inner.q_head.weight.copy_(torch.randn_like(inner.q_head.weight) / D ** 0.5)
        inner.q_head.bias.copy_(0.2 * torch.randn_like(inner.q_head.bias))
        for name, p in head.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                p.mul_(residual_scale)
    return head


def make_batch(cfg: dict, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    B, S, V = cfg["batch_size"], cfg["seq_len"], cfg["vocab_size"]
    inputs = rng.integers(0, V, size=(B, S)).astype(np.int32)
    labels = rng.integers(0, V, size=(B, S)).astype(np.int32)
    labels[rng.random((B, S)) < 0.2] = -100
    labels[B - 1] = -100  # a row without labels: count 0, divisor clamped to 1
    ids = rng.integers(0, cfg["num_puzzle_identifiers"], size=B).astype(np.int32)
    if B > 2:
        ids[1] = ids[0]  # a repeated identifier
    return {"inputs": inputs, "labels": labels, "puzzle_identifiers": ids}


def torch_batch(batch):
    import torch

    return {k: torch.from_numpy(v.copy()) for k, v in batch.items()}


def run_eval(head, batch):
    """Eval mode from the initial carry, every segment (the reference's evaluate loop)."""
    import torch

    head.eval()
    tb = torch_batch(batch)
    out = {}
    with torch.inference_mode():
        carry = head.initial_carry(tb)
        for s in range(head.model.config.halt_max_steps):
            carry, _, _, preds, _ = head(return_keys=["logits", "q_halt_logits", "q_continue_logits"],
                                         carry=carry, batch=tb)
            out[f"logits_{s}"] = preds["logits"].float().numpy()
            out[f"q_halt_{s}"] = preds["q_halt_logits"].float().numpy()
            out[f"q_continue_{s}"] = preds["q_continue_logits"].float().numpy()
            out[f"halted_{s}"] = carry.halted.numpy().copy()
        out["z_H"] = carry.inner_carry.z_H.float().numpy()
        out["z_L"] = carry.inner_carry.z_L.float().numpy()
    return out


def argmax_margin_ok(logits, labels) -> bool:
    """Whether argmax == label is decided by more than MARGIN x the logits' scale at every labelled position."""
    import numpy as np

    mask = labels != -100
    picked = np.take_along_axis(logits, np.where(mask, labels, 0)[..., None], axis=-1)[..., 0]
    others = np.where(np.eye(logits.shape[-1], dtype=bool)[np.where(mask, labels, 0)], -np.inf, logits).max(-1)
    gap = np.abs(picked - others)[mask]
    return bool(gap.size == 0 or gap.min() > MARGIN * max(1.0, float(np.abs(logits).max())))


def run_train(head, batch):
    """Training mode, exploration off: two segments through the loss head; grads of loss_0."""
    import numpy as np
    import torch

    head.train()
    head.model.config.halt_exploration_prob = 0.0
    tb = torch_batch(batch)
    carry = head.initial_carry(tb)
    out, grads, ok = {}, {}, True
    keys = ["logits", "q_halt_logits", "q_continue_logits"]
    for s in range(2):
        head.zero_grad(set_to_none=True)
        local = head.model.inner.puzzle_emb.local_weights
        local.grad = None
        carry, loss, metrics, preds, _ = head(return_keys=keys, carry=carry, batch=tb)
        if s == 0:
            loss.backward()
            for name, p in head.named_parameters():
                grads[name] = (p.grad if p.grad is not None else torch.zeros_like(p)).detach().float().clone()
            grads["model.inner.puzzle_emb.local_weights"] = local.grad.detach().float().clone()
        out[f"loss_{s}"] = np.float32(loss.item())
        for k, v in metrics.items():
            out[f"metric_{k}_{s}"] = np.float32(v.item())
        out[f"halted_{s}"] = carry.halted.numpy().copy()
        out[f"steps_{s}"] = carry.steps.numpy().astype(np.int32)
        qh, qc = preds["q_halt_logits"].float().numpy(), preds["q_continue_logits"].float().numpy()
        halt_gap = qh if head.model.config.__dict__.get("no_ACT_continue") else qh - qc  # TRM: q_halt > 0 decides
        ok &= bool(np.abs(halt_gap).min() > MARGIN and np.abs(qh).min() > MARGIN)
        ok &= argmax_margin_ok(preds["logits"].float().numpy(), carry.current_data["labels"].numpy())
    return out, grads, ok


def make(reference: Path, cfg: dict, seed: int, residual_scale: float):
    """(weights, batch, eval, train, grads, seed used): retries seeds until every decision has a margin."""
    import numpy as np
    import torch

    for attempt in range(50):
        s = seed + 1000 * attempt
        head = build(reference, cfg, s, residual_scale)
        batch = make_batch(cfg, s)
        # Half the rows want to halt after the first segment: shift q_halt's bias by the median gap.
        first = run_eval(head, {**batch})
        gap = first["q_halt_0"] - (0 if head.model.config.__dict__.get("no_ACT_continue") else first["q_continue_0"])
        with torch.no_grad():
            head.model.inner.q_head.bias[0] -= float(np.median(gap))
        # Two rows labelled with the model's own first-segment predictions (some positions kept ignored).
        first = first["logits_0"].argmax(-1).astype(np.int32)
        for row in range(min(2, cfg["batch_size"] - 1)):
            keep = batch["labels"][row] != -100
            batch["labels"][row] = np.where(keep, first[row], -100)
        state = {k: v.detach().clone().contiguous() for k, v in head.state_dict().items()}
        ev = run_eval(head, batch)
        tr, grads, ok = run_train(head, batch)
        if ok:
            return state, batch, ev, tr, grads, s
        print(f"seed {s}: a decision is within {MARGIN} of flipping; trying another", file=sys.stderr)
    raise SystemExit("no seed gave stable decisions in 50 tries; change the config")


def write(out: Path, cfg: dict, state, batch, ev, tr, grads) -> None:
    import numpy as np
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    save_file(state, str(out / "weights.safetensors"))
    np.savez(out / "batch.npz", **batch)
    np.savez(out / "eval.npz", **ev)
    np.savez(out / "train.npz", **tr)
    save_file(grads, str(out / "grads1.safetensors"))
    for path in out.iterdir():
        path.chmod(0o644)


ALL_CONFIG = """\
arch:
  H_cycles: {H_cycles}
  H_layers: {H_layers}
  L_cycles: {L_cycles}
  L_layers: {L_layers}
  expansion: {expansion}
  halt_exploration_prob: {halt_exploration_prob}
  halt_max_steps: {halt_max_steps}
  hidden_size: {hidden_size}
  loss:
    loss_type: stablemax_cross_entropy
    name: losses@ACTLossHead
  name: hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1
  num_heads: {num_heads}
  pos_encodings: {pos_encodings}
  puzzle_emb_ndim: {puzzle_emb_ndim}
beta1: 0.9
beta2: 0.95
checkpoint_every_eval: true
checkpoint_path: checkpoints/Parity-toy ACT-torch/HierarchicalReasoningModel_ACTV1 tiny-fixture
data_path: data/parity-toy
epochs: 20
eval_interval: 10
eval_save_outputs: []
global_batch_size: {batch_size}
lr: 0.0001
lr_min_ratio: 1.0
lr_warmup_steps: 2
project_name: Parity-toy ACT-torch
puzzle_emb_lr: 0.01
puzzle_emb_weight_decay: 0.1
run_name: HierarchicalReasoningModel_ACTV1 tiny-fixture
seed: 0
weight_decay: 0.1
"""


def write_pickle_fixtures(out: Path, fixture: Path, reference: Path) -> None:
    """Test files for the restricted unpickler (tests/fixtures/torch_pickle) and `hrm import reference`.

    benign.pt + benign_expected.npz: a real nn.Module state_dict (with `_metadata`) in every storage dtype
    the reader supports, plus views with an offset and a transposed stride. malicious.pt: a checkpoint
    whose pickle calls os.system (it would `touch hrm-pickle-was-executed`). reference/step_12 and
    reference/all_config.yaml: the fixture's weights saved as a torch.compile'd ACTLossHead state_dict
    (keys prefixed `_orig_mod.`), with the config file the reference's pretrain.py writes beside it.
    """
    import collections
    import os

    import numpy as np
    import torch
    from safetensors.torch import load_file

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 2)
    module.register_buffer("bf16", torch.randn(5).to(torch.bfloat16))
    module.register_buffer("f16", torch.randn(2, 2).to(torch.float16))
    module.register_buffer("i64", torch.arange(-3, 3, dtype=torch.int64))
    module.register_buffer("i32", torch.tensor([7, -8, 2**30], dtype=torch.int32))
    module.register_buffer("flag", torch.tensor([True, False]))
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    module.register_buffer("offset_view", base[1:, 1:])   # storage offset 5, strides (4, 1)
    module.register_buffer("transposed", base.t())          # strides (1, 4)
    state = module.state_dict()
    torch.save(state, out / "benign.pt")
    np.savez(out / "benign_expected.npz", **{k: v.float().numpy() if v.is_floating_point() else v.numpy()
                                            for k, v in state.items()})

    class Malicious:
        def __reduce__(self):
            return (os.system, ("touch hrm-pickle-was-executed",))

    torch.save(collections.OrderedDict(H_init=torch.zeros(4), payload=Malicious()), out / "malicious.pt")

    cfg = json.loads((fixture / "config.json").read_text())
    head = build(reference, cfg, 0)
    head.load_state_dict(load_file(str(fixture / "weights.safetensors")))
    compiled = torch.compile(head)  # never called: only its state_dict (keys `_orig_mod.*`) is saved
    ref_dir = out.parent / "reference_checkpoint"
    ref_dir.mkdir(parents=True, exist_ok=True)
    torch.save(compiled.state_dict(), ref_dir / "step_12")
    text = ALL_CONFIG.format(**cfg)
    extra = "".join(f"  {k}: {cfg[k]}\n" for k in ("rms_norm_eps", "rope_theta") if k in cfg)
    (ref_dir / "all_config.yaml").write_text(text.replace("  puzzle_emb_ndim:", extra + "  puzzle_emb_ndim:"))
    for path in list(out.iterdir()) + list(ref_dir.iterdir()):
        path.chmod(0o644)


TRM_ALL_CONFIG = """\
arch:
  name: recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1
  loss:
    name: losses@ACTLossHead
    loss_type: stablemax_cross_entropy
{arch}beta1: 0.9
beta2: 0.95
checkpoint_every_eval: true
data_paths:
- data/trm-toy
data_paths_test: []
ema: true
ema_rate: 0.999
epochs: 20
eval_interval: 10
global_batch_size: {batch_size}
lr: 0.0001
lr_min_ratio: 1.0
lr_warmup_steps: 2
puzzle_emb_lr: 0.01
puzzle_emb_weight_decay: 0.1
seed: 0
weight_decay: 0.1
"""
TRM_ARCH_KEYS = ("H_cycles", "H_layers", "L_cycles", "L_layers", "expansion", "halt_exploration_prob", "halt_max_steps",
                 "hidden_size", "mlp_t", "no_ACT_continue", "num_heads", "pos_encodings", "puzzle_emb_len",
                 "puzzle_emb_ndim")


def write_trm_checkpoint(out: Path, fixture: Path, reference: Path) -> None:
    """`out/step_7` (a torch.compile'd TRM ACTLossHead state_dict, as TRM's pretrain.py saves it) and the
    all_config.yaml beside it, from the TRM fixture at `fixture`, for `hrm import reference`."""
    import torch
    from safetensors.torch import load_file

    cfg = json.loads((fixture / "config.json").read_text())
    head = build(reference, cfg, 0)
    head.load_state_dict(load_file(str(fixture / "weights.safetensors")))
    out.mkdir(parents=True, exist_ok=True)
    torch.save(torch.compile(head).state_dict(), out / "step_7")
    arch = "".join(f"  {k}: {json.dumps(cfg[k])}\n" for k in TRM_ARCH_KEYS)
    (out / "all_config.yaml").write_text(TRM_ALL_CONFIG.format(arch=arch, batch_size=cfg["batch_size"]))
    for path in out.iterdir():
        path.chmod(0o644)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True,
                        help="checkout of sapientinc/HRM (or of SamsungSAILMontreal/TinyRecursiveModels with --arch trm)")
    parser.add_argument("--arch", choices=("hrm", "trm"), default="hrm",
                        help="trm: record TRM's own model (models/recursive_reasoning/trm.py) and loss head")
    parser.add_argument("--out", type=Path, required=True, help="fixture directory to write")
    parser.add_argument("--config", default=None, help="JSON object or k=v,k=v over the defaults")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--residual-scale", type=float, default=RESIDUAL_SCALE,
                        help="factor on o_proj/down_proj weights (1 = the reference's init; see docs/parity.md)")
    parser.add_argument("--pickle-fixtures", type=Path, default=None,
                        help="instead: write the unpickler/import test files here from the fixture at --out")
    parser.add_argument("--trm-checkpoint", type=Path, default=None,
                        help="instead (with --arch trm): write a TRM checkpoint and all_config.yaml here from --out")
    args = parser.parse_args(argv)

    import torch

    if args.arch == "trm" and not (args.reference / "models" / "recursive_reasoning" / "trm.py").is_file():
        raise SystemExit(f"{args.reference} is not a checkout of TinyRecursiveModels (no models/recursive_reasoning/trm.py)")
    if args.arch == "hrm" and not (args.reference / "models" / "hrm" / "hrm_act_v1.py").is_file():
        raise SystemExit(f"{args.reference} is not a checkout of sapientinc/HRM (no models/hrm/hrm_act_v1.py)")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    if args.trm_checkpoint is not None:
        write_trm_checkpoint(args.trm_checkpoint, args.out, args.reference)
        print(f"wrote {args.trm_checkpoint}")
        return
    if args.pickle_fixtures is not None:
        flash_attn_stub.install()
        write_pickle_fixtures(args.pickle_fixtures, args.out, args.reference)
        print(f"wrote {args.pickle_fixtures} and {args.pickle_fixtures.parent / 'reference_checkpoint'}")
        return
    cfg = parse_config(args.config, TRM_DEFAULTS if args.arch == "trm" else DEFAULTS)
    if cfg["forward_dtype"] != "float32":
        print("note: tolerances in docs/parity.md are for float32 fixtures", file=sys.stderr)
    stubbed = flash_attn_stub.install()
    state, batch, ev, tr, grads, used = make(args.reference, cfg, args.seed, args.residual_scale)
    write(args.out, cfg, state, batch, ev, tr, grads)
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {args.out} ({size / 1e6:.2f} MB, seed {used}, attention {'SDPA' if stubbed else 'flash_attn'})")


if __name__ == "__main__":
    main()
