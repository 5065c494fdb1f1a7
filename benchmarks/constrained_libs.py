"""Constrained JSON decoding libraries on mlx-lm's generate loop: set-up time and per-token overhead.

Compares llguidance, outlines (outlines-core) and lm-format-enforcer on the default offline model
(SmolLM2-135M-Instruct), generating the planner's reply under `response_schema(Plan)` with mlx-lm's
`stream_generate(..., logits_processors=[...])`, greedy, against the same prompt unconstrained. Each library
is used through the same small adapter (the library computes the allowed tokens, `mx.where` masks the
logits), because the MLX helpers that llguidance and outlines ship are Metal kernels, which do not run on
a CPU (the script reports that too). xgrammar is not measured: it imports torch, which hrm does not have.

The candidates are not hrm dependencies (only llguidance is); install them into a scratch venv that sees
hrm's packages:

    python -m venv /tmp/cmp && echo "$PWD/.venv/lib/python3.11/site-packages" \
        > /tmp/cmp/lib/python3.11/site-packages/hrm.pth
    /tmp/cmp/bin/pip install --no-deps llguidance outlines outlines-core lm-format-enforcer interegular \
        jsonschema referencing rpds-py jsonschema-specifications attrs diskcache genson cloudpickle pillow
    /tmp/cmp/bin/python benchmarks/constrained_libs.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Callable

import numpy as np

from hrm_agent.backends import local_model
from hrm_agent.backends.mlx_backend import load_cached  # noqa: F401  (sets up BLAS before mlx.core)
from hrm_agent.prompts import load_prompts, render
from hrm_agent.schemas import Plan, parse_reply, response_schema

import mlx.core as mx  # noqa: E402
from mlx_lm import stream_generate  # noqa: E402

TASK = ("A tank holds 1200 L of water. It leaks 2% of its current volume every hour for 3 hours, then it is "
        "refilled with 150 L. How many liters are in the tank now?")


def _mask_logits(logits: mx.array, allowed: np.ndarray) -> mx.array:
    """Logits with every token not in the boolean `allowed` (vocabulary long) set to -inf."""
    n = logits.shape[-1]
    if allowed.shape[0] < n:
        allowed = np.concatenate([allowed, np.zeros(n - allowed.shape[0], dtype=bool)])
    return mx.where(mx.array(allowed[:n]), logits, -mx.inf)


class _Stepper:
    """mlx-lm logits processor around `allowed(new_token | None) -> bool mask`."""

    def __init__(self, allowed: Callable[[int | None], np.ndarray]) -> None:
        self.allowed, self.prompt_len, self.seconds = allowed, None, 0.0

    def __call__(self, tokens: mx.array, logits: mx.array) -> mx.array:
        new = None
        if self.prompt_len is None:
            self.prompt_len = tokens.shape[-1]
        else:
            new = int(tokens[-1].item())
        t = time.perf_counter()
        mask = self.allowed(new)
        self.seconds += time.perf_counter() - t
        return _mask_logits(logits, mask)


def _bits_to_bool(bitmask: np.ndarray) -> np.ndarray:
    return np.unpackbits(bitmask.view(np.uint8), bitorder="little").astype(bool)


def make_llguidance(tokenizer: Any, schema: dict) -> Callable[[], _Stepper]:
    import llguidance
    import llguidance.hf
    from llguidance.numpy import allocate_token_bitmask, fill_next_token_bitmask

    ll_tok = llguidance.hf.from_tokenizer(tokenizer._tokenizer)
    from hrm_agent.constrained import GRAMMAR_OPTIONS

    grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=GRAMMAR_OPTIONS)

    def new() -> _Stepper:
        matcher = llguidance.LLMatcher(ll_tok, grammar)
        bitmask = allocate_token_bitmask(1, ll_tok.vocab_size)

        def allowed(token: int | None) -> np.ndarray:
            if token is not None:
                matcher.consume_token(token)
            fill_next_token_bitmask(matcher, bitmask, 0)
            return _bits_to_bool(bitmask[0])

        return _Stepper(allowed)

    return new


def make_outlines(tokenizer: Any, schema: dict) -> Callable[[], _Stepper]:
    from outlines_core import Guide, Index, Vocabulary
    from outlines_core.json_schema import build_regex_from_schema

    hf = tokenizer._tokenizer
    eos = hf.eos_token_id
    mapping: dict[str, list[int]] = {}
    for token, idx in hf.get_vocab().items():
        if idx == eos or token in hf.all_special_tokens:
            continue
        mapping.setdefault(hf.convert_tokens_to_string([token]), []).append(idx)
    vocabulary = Vocabulary(eos, mapping)
    index = Index(build_regex_from_schema(json.dumps(schema), r"[ ]?"), vocabulary)
    n_vocab = len(hf)

    def new() -> _Stepper:
        guide = Guide(index)

        def allowed(token: int | None) -> np.ndarray:
            if token is not None and not guide.is_finished():
                guide.advance(token, return_tokens=False)
            mask = np.zeros(max(n_vocab, eos + 1), dtype=bool)
            mask[np.asarray(guide.get_tokens(), dtype=np.int64)] = True
            return mask

        return _Stepper(allowed)

    return new


def make_lmfe(tokenizer: Any, schema: dict) -> Callable[[], _Stepper]:
    from lmformatenforcer import JsonSchemaParser, TokenEnforcer
    from lmformatenforcer.tokenenforcer import TokenEnforcerTokenizerData

    # What lmformatenforcer.integrations.transformers does, minus its module-level `import torch`.
    hf = tokenizer._tokenizer
    n_vocab = len(hf)
    token_0 = hf.encode("0")[-1]
    special = set(hf.all_special_ids)
    regular = []
    for idx in range(n_vocab):
        if idx in special:
            continue
        after_0 = hf.decode([token_0, idx])[1:]
        regular.append((idx, after_0, len(after_0) > len(hf.decode([idx]))))
    data = TokenEnforcerTokenizerData(regular, lambda ids: hf.decode(ids).rstrip("\ufffd"), hf.eos_token_id,
                                      False, n_vocab)

    def new() -> _Stepper:
        enforcer = TokenEnforcer(data, JsonSchemaParser(schema))
        seq: list[int] = []

        def allowed(token: int | None) -> np.ndarray:
            if token is not None:
                seq.append(token)
            mask = np.zeros(n_vocab, dtype=bool)
            allowed_ids = enforcer.get_allowed_tokens(seq)
            mask[np.asarray(getattr(allowed_ids, "allowed_tokens", allowed_ids), dtype=np.int64)] = True
            return mask

        return _Stepper(allowed)

    return new


def shipped_mlx_helper(name: str) -> str:
    """Whether the library's own MLX masking helper runs here (both are Metal kernels)."""
    logits = mx.zeros((1, 64))
    try:
        if name == "llguidance":
            from llguidance.mlx import apply_token_bitmask

            mx.eval(apply_token_bitmask(logits, np.full((1, 2), -1, dtype=np.int32)))
        else:
            from outlines_core.kernels.mlx import apply_token_bitmask

            mx.eval(apply_token_bitmask(logits, np.full((1, 2), -1, dtype=np.int32)))
        return "runs"
    except Exception as exc:  # what a user of the shipped helper would hit on a CPU
        return f"fails: {type(exc).__name__}: {' '.join(str(exc).split())[:120]}"


def run(model: Any, tokenizer: Any, prompt: list[int], max_tokens: int, stepper: _Stepper | None) -> dict:
    start = time.perf_counter()
    text, n, tps = "", 0, 0.0
    for resp in stream_generate(model, tokenizer, mx.array(prompt), max_tokens=max_tokens,
                                logits_processors=[stepper] if stepper else None):
        text += resp.text
        n, tps = resp.generation_tokens, resp.generation_tps
    seconds = time.perf_counter() - start
    try:
        parse_reply(text, Plan)
        valid = True
    except ValueError:
        valid = False
    # mlx-lm's generation rate leaves the prompt's prefill out: the per-token cost of decoding alone.
    return {"tokens": n, "seconds": seconds, "ms_per_token": 1000.0 / tps if tps else float("nan"),
            "valid": valid, "text": text,
            "library_s": stepper.seconds if stepper else 0.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--libs", default="llguidance,outlines,lm-format-enforcer")
    args = ap.parse_args()

    model, tokenizer, _ = load_cached(str(local_model.default_model_path()))
    prompts = load_prompts("default")
    messages = render(prompts, "planner", task=TASK, context="")
    prompt = tokenizer.encode(tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                            tokenize=False), add_special_tokens=False)
    schema = response_schema(Plan)
    makers = {"llguidance": make_llguidance, "outlines": make_outlines, "lm-format-enforcer": make_lmfe}
    factories: dict[str, Callable[[], _Stepper] | None] = {"none": None}
    rows: dict[str, dict] = {"none": {"library": "none", "setup_s": 0.0}}
    for name in args.libs.split(","):
        t = time.perf_counter()
        try:
            factories[name] = makers[name](tokenizer, schema)
            factories[name]()  # the first matcher/guide (compiles what is compiled lazily)
        except ImportError as exc:
            rows[name] = {"library": name, "error": f"not installed: {exc}"}
            factories.pop(name, None)
            continue
        rows[name] = {"library": name, "setup_s": round(time.perf_counter() - t, 2)}
        if name in ("llguidance", "outlines"):
            rows[name]["shipped_mlx_helper"] = shipped_mlx_helper(name)
    # Interleaved rounds, so that load from other work on the machine falls on every library alike.
    runs: dict[str, list[dict]] = {name: [] for name in factories}
    for _ in range(args.repeats):
        for name, factory in factories.items():
            runs[name].append(run(model, tokenizer, prompt, args.max_tokens, factory() if factory else None))
    ms = {name: [r["ms_per_token"] for r in rs] for name, rs in runs.items()}
    for name, rs in runs.items():
        lib_ms = [r["library_s"] / max(r["tokens"], 1) * 1000 for r in rs]
        rows[name].update(ms_per_token_min=round(min(ms[name]), 2),
                          ms_per_token_median=round(statistics.median(ms[name]), 2),
                          overhead_ms_min=round(min(ms[name]) - min(ms["none"]), 2),
                          library_ms_per_token=round(statistics.median(lib_ms), 2), tokens=rs[0]["tokens"],
                          valid_json=all(r["valid"] for r in rs), text=rs[0]["text"][:160])
    for row in rows.values():
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
