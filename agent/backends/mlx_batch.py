"""K samples from the in-process model for the price of about one: one prefill per distinct prompt, then the
K continuations decoded as one batch (mlx-lm's BatchGenerator), each with its own seed and its own grammar
matcher (docs/agent-voting.md).

Why: self-consistency needs K programs for one subgoal. Generated one after another they cost K prefills
and K decodes; here the prompt's KV cache is computed once and handed to every sequence of the batch, and
each decoding step runs the model once on a K-row batch. Reply grammars (agent/constrained.py) stay on:
mlx-lm's GenerationBatch applies a list of logits processors per sequence, so every sample gets its own
llguidance matcher, fed that sequence's tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from hrm_agent.errors import DeadlineExceeded

PREFILL_STEP = 2048  # prompt tokens per forward pass while prefilling (mlx-lm's default step)


@dataclass
class Sample:
    """One sequence of the batch: its text, the tokens it generated (end-of-sequence included), why it
    stopped (`cut`: `on_finish` settled the batch before it finished), whether its prompt's prefill was
    shared with an earlier sequence of the batch, and the seconds from the batch's start to its end."""

    text: str
    completion_tokens: int
    finish_reason: str
    shared_prefill: bool
    prompt_tokens: int
    latency_s: float = 0.0


def seeded_sampler(temperature: float, seed: int) -> Callable[[Any], Any]:
    """A sampler with its own PRNG stream (mx.random.key(seed), split per step): sample i draws the same
    tokens whatever else is in the batch, and two samples never share a stream. Temperature 0 is greedy."""
    import mlx.core as mx

    if temperature <= 0:
        return lambda logprobs: mx.argmax(logprobs, axis=-1)
    state = [mx.random.key(int(seed) % (2 ** 32))]
    scale = 1.0 / float(temperature)

    def sample(logprobs: Any) -> Any:
        state[0], key = mx.random.split(state[0])
        return mx.random.categorical(logprobs * scale, key=key)

    return sample


def prefill(model: Any, prompt: list[int]) -> list[Any]:
    """The KV cache of `prompt` without its last token (the batch feeds that one as its first input)."""
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model)
    head = prompt[:-1]
    for start in range(0, len(head), PREFILL_STEP):
        model(mx.array(head[start:start + PREFILL_STEP])[None], cache=cache)
        mx.eval([c.state for c in cache])
    return cache


def generate_samples(model: Any, tokenizer: Any, prompts: list[list[int]], *, max_tokens: int,
                     temperature: float, seeds: list[int], processors: list[list[Any]] | None = None,
                     stop: list[str] | None = None, deadline: float | None = None,
                     on_finish: Callable[[int, Sample], bool] | None = None) -> list[Sample]:
    """Generate one continuation per prompt (equal prompts share one prefill) as one batch.

    `processors[i]` are sequence i's logits processors (its grammar matcher); `stop` strings cut a
    sequence's text where they start. `on_finish(i, sample)` is called as each sequence finishes (in index
    order within a step); when it returns True the sequences still generating are stopped there and come
    back with finish_reason `cut` (self-consistency: the vote is settled, they cannot change it). Past
    `deadline` (monotonic, checked between steps) this raises DeadlineExceeded carrying the first sequence's
    text and the tokens of all of them.
    """
    import mlx.core as mx
    from mlx_lm.generate import BatchGenerator

    n = len(prompts)
    if not n or any(not p for p in prompts):
        raise ValueError("every sample needs a non-empty prompt")
    start = time.monotonic()
    caches: dict[tuple[int, ...], list[Any]] = {}
    shared: list[bool] = []
    for prompt in prompts:
        key = tuple(prompt)
        shared.append(key in caches)
        if key not in caches:
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineExceeded("the run's deadline passed before the samples' prompts were read",
                                       text="", completion_tokens=0)
            caches[key] = prefill(model, prompt)
    eos = set(tokenizer.eos_token_ids)
    stops = [s for s in (stop or []) if s]
    tokens: list[list[int]] = [[] for _ in range(n)]
    out: list[Sample | None] = [None] * n

    def finish(i: int, reason: str) -> Sample:
        text = tokenizer.decode(_text_tokens(tokens[i], eos))
        cuts = [text.find(s) for s in stops if s in text]
        if cuts:
            text, reason = text[:min(cuts)], "stop"
        out[i] = Sample(text=text, completion_tokens=len(tokens[i]), finish_reason=reason,
                        shared_prefill=shared[i], prompt_tokens=len(prompts[i]),
                        latency_s=time.monotonic() - start)
        return out[i]

    gen = BatchGenerator(model, stop_tokens=[[t] for t in eos], completion_batch_size=n, prefill_batch_size=n)
    try:
        uids = gen.insert([p[-1:] for p in prompts], max_tokens=[max_tokens] * n,
                          caches=[caches[tuple(p)] for p in prompts], all_tokens=[p[:-1] for p in prompts],
                          samplers=[seeded_sampler(temperature, s) for s in seeds],
                          logits_processors=processors if processors and any(processors) else None)
        index = {uid: i for i, uid in enumerate(uids)}
        settled = False
        while not settled and any(o is None for o in out):
            done_now = []
            for resp in gen.next_generated():
                i = index[resp.uid]
                tokens[i].append(int(resp.token))
                if resp.finish_reason is not None:
                    done_now.append((i, resp.finish_reason))
                elif stops and any(s in tokenizer.decode(_text_tokens(tokens[i], eos)) for s in stops):
                    gen.remove([resp.uid])
                    done_now.append((i, "stop"))
            for i, reason in sorted(done_now):
                sample = finish(i, reason)
                if on_finish is not None and not settled and on_finish(i, sample):
                    settled = True
            if not settled and deadline is not None and time.monotonic() >= deadline and any(o is None for o in out):
                done = sum(len(t) for t in tokens)
                raise DeadlineExceeded(f"the run's deadline passed while {n} samples were generating ({done} "
                                       f"tokens so far)", text=tokenizer.decode(_text_tokens(tokens[0], eos)),
                                       completion_tokens=done)
    finally:
        gen.close()
        mx.clear_cache()
    return [o if o is not None else finish(i, "cut") for i, o in enumerate(out)]


def _text_tokens(tokens: list[int], eos: set[int]) -> list[int]:
    """The tokens that are text: an end-of-sequence token ends the reply and is counted, not shown."""
    return tokens[:-1] if tokens and tokens[-1] in eos else tokens
