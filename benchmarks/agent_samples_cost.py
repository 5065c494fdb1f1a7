"""What K sampled replies cost on the local model: one batch with a shared prefill against K calls in a row.

    .venv/bin/python benchmarks/agent_samples_cost.py --ks 1,3,5,8 --rounds 3

The prompt is the flat controller's for a probe task, with its three worked examples (what `--samples K`
sends), the reply under the code-block grammar at the sampling temperature. Each round times, for every K:
`chat_samples` (K replies, one prefill, one batch) and, for K > 1, K `chat` calls one after another with the
same seeds' temperature; rounds alternate the order so that a change in the machine's load hits both alike.
Prints one JSON line per measurement and a table of medians (seconds, completion tokens, seconds per token).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import hrm_engine.cpu

hrm_engine.cpu.setup()

from hrm_agent.backends.mlx_backend import MLXBackend  # noqa: E402
from hrm_agent.constrained import CODE_BLOCK_GRAMMAR  # noqa: E402
from hrm_agent.demos import DemoBank  # noqa: E402
from hrm_agent.prompts import context_text, load_prompts, render  # noqa: E402

TASK = "A shop sells pens at 3 for $4. How much do 27 pens cost? Return exactly: 'Answer: <number>'."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,3,5,8")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=192)
    ap.add_argument("--temperature", type=float, default=0.7)
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    prompts = load_prompts("default")
    messages = DemoBank(prompts, 3).apply("flat", render(prompts, "flat", task=TASK, context=context_text({}),
                                                          feedback=""))
    backend = MLXBackend()
    backend.chat(messages, max_tokens=4)  # load the model and compile the grammar once
    rows: list[dict] = []
    for rnd in range(args.rounds):
        for k in (ks if rnd % 2 == 0 else ks[::-1]):
            seeds = list(range(100 * rnd, 100 * rnd + k))
            t0 = time.perf_counter()
            out = backend.chat_samples([messages] * k, seeds=seeds, max_tokens=args.max_tokens,
                                       temperature=args.temperature, grammar=CODE_BLOCK_GRAMMAR)
            rows.append({"k": k, "mode": "batch", "round": rnd, "s": time.perf_counter() - t0,
                         "prompt_tokens": out[0].prompt_tokens, "tokens": sum(r.completion_tokens for r in out),
                         "load": os.getloadavg()[0]})
            print(json.dumps(rows[-1]), flush=True)
            if k == 1:
                continue
            t0 = time.perf_counter()
            seq = [backend.chat(messages, max_tokens=args.max_tokens, temperature=args.temperature,
                                grammar=CODE_BLOCK_GRAMMAR) for _ in range(k)]
            rows.append({"k": k, "mode": "sequential", "round": rnd, "s": time.perf_counter() - t0,
                         "prompt_tokens": seq[0].prompt_tokens * k, "tokens": sum(r.completion_tokens for r in seq),
                         "load": os.getloadavg()[0]})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| K | mode | median s | completion tokens (median) | s per completion token | load (mean) |")
    print("|---|---|---|---|---|---|")
    for k in ks:
        for mode in ("batch", "sequential"):
            sel = [r for r in rows if r["k"] == k and r["mode"] == mode]
            if not sel:
                continue
            s = statistics.median(r["s"] for r in sel)
            tok = statistics.median(r["tokens"] for r in sel)
            print(f"| {k} | {mode} | {s:.1f} | {tok:.0f} | {s / max(tok, 1):.3f} | "
                  f"{statistics.fmean(r['load'] for r in sel):.1f} |")


if __name__ == "__main__":
    main()
