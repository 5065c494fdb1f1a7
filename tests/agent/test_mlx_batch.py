"""K samples from the bundled local model as one batch (agent/backends/mlx_batch.py, MLXBackend.chat_samples):
real mlx-lm, the converted SmolLM2-135M-Instruct (conftest's session cache), the code-block grammar on."""

from __future__ import annotations

import time

import pytest

from hrm_agent.backends.mlx_backend import MLXBackend
from hrm_agent.constrained import CODE_BLOCK_GRAMMAR
from hrm_agent.errors import DeadlineExceeded

pytestmark = pytest.mark.slow

TASK = [{"role": "system", "content": "You write Python that sets RESULT."},
        {"role": "user", "content": "What is 17 * 23?"}]
TOKENS = 40


@pytest.fixture(scope="module")
def backend(cache_root) -> MLXBackend:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HRM_CACHE_DIR", str(cache_root))
        b = MLXBackend()
        b._load()  # converted already by cache_root: this only loads it, inside the private cache
    return b


@pytest.fixture(scope="module")
def sampled(backend) -> list:
    return backend.chat_samples([TASK] * 4, seeds=[0, 1, 2, 3], max_tokens=TOKENS, temperature=1.0,
                                grammar=CODE_BLOCK_GRAMMAR)


def test_k_samples_are_distinct_share_one_prefill_and_keep_the_grammar(sampled):
    texts = [r.text for r in sampled]
    assert len(set(texts)) == 4, texts  # four seeds, four different programs
    assert [r.extra.get("shared_prefill", False) for r in sampled] == [False, True, True, True]
    assert [r.extra["seed"] for r in sampled] == [0, 1, 2, 3] and {r.extra["batch"] for r in sampled} == {4}
    for r in sampled:
        assert r.extra["structured"] == "lark" and r.text.startswith("```python\n"), r.text
        assert 1 <= r.completion_tokens <= TOKENS and r.finish_reason in ("stop", "length")
        assert r.prompt_tokens == sampled[0].prompt_tokens > 10
        if r.finish_reason == "stop":  # a finished reply is a whole block whose last line sets RESULT
            assert r.text.endswith("```") and r.text.rstrip("`").rstrip().splitlines()[-1].startswith("RESULT = ")


def test_a_seed_draws_the_same_sample_whatever_else_is_in_the_batch(backend, sampled):
    again = backend.chat_samples([TASK] * 2, seeds=[2, 0], max_tokens=TOKENS, temperature=1.0,
                                 grammar=CODE_BLOCK_GRAMMAR)
    assert [r.text for r in again] == [sampled[2].text, sampled[0].text]


def test_greedy_batch_equals_the_single_greedy_reply(backend):
    one = backend.chat(TASK, max_tokens=24, temperature=0.0, grammar=CODE_BLOCK_GRAMMAR)
    two = backend.chat_samples([TASK, TASK], seeds=[5, 6], max_tokens=24, temperature=0.0,
                               grammar=CODE_BLOCK_GRAMMAR)
    assert [r.text for r in two] == [one.text, one.text]
    assert [r.completion_tokens for r in two] == [one.completion_tokens] * 2


def test_different_prompts_in_one_batch_and_a_passed_deadline(backend):
    other = [TASK[0], {"role": "user", "content": "What is 2 ** 10 - 5?"}]
    mixed = backend.chat_samples([TASK, other], seeds=[0, 0], max_tokens=8, temperature=0.0)
    assert [r.extra.get("shared_prefill", False) for r in mixed] == [False, False]
    assert mixed[0].prompt_tokens != mixed[1].prompt_tokens
    with pytest.raises(DeadlineExceeded, match="wall-clock budget ran out"):
        backend.chat_samples([TASK] * 2, seeds=[0, 1], max_tokens=8, deadline=time.monotonic() - 1)


def test_a_settled_batch_stops_the_samples_still_generating(backend):
    from hrm_agent.demos import DemoBank
    from hrm_agent.prompts import context_text, load_prompts, render

    prompts = load_prompts("default")  # the flat prompt with its worked examples: a short program, greedily
    quick = DemoBank(prompts, 3).apply("flat", render(prompts, "flat", task="What is 17 * 23?",
                                                       context=context_text({}), feedback=""))
    heard: list[int] = []

    def on_result(i, result):
        heard.append(i)
        return True  # settled at the first reply: the others stop where they are

    out = backend.chat_samples([quick, TASK, TASK], seeds=[0, 1, 2], max_tokens=TOKENS, temperature=0.0,
                               grammar=CODE_BLOCK_GRAMMAR, on_result=on_result)
    assert heard == [0] and out[0].finish_reason == "stop" and out[0].completion_tokens < TOKENS
    assert [r.finish_reason for r in out[1:]] == ["cut", "cut"]
    full = backend.chat(TASK, max_tokens=TOKENS, temperature=0.0, grammar=CODE_BLOCK_GRAMMAR)
    for r in out[1:]:  # stopped where the quick one ended: a prefix of the reply it would have written
        assert r.completion_tokens == out[0].completion_tokens < full.completion_tokens
        assert full.text.startswith(r.text) and len(r.text) < len(full.text)
