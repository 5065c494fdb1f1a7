"""Worked examples before a call (hrm_agent.demos) and the solver's code-block grammar on the local model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hrm_agent.constrained import CODE_BLOCK_GRAMMAR
from hrm_agent.demos import AUTO_K, DemoBank, demo_count
from hrm_agent.errors import AgentError
from hrm_agent.prompts import load_prompts, render
from hrm_agent.toolkit import Budget, Session
from hrm_agent.trace import TraceWriter, read_trace
from hrm_agent.tune.data import bench_index, text_overlaps


@pytest.fixture(scope="module")
def prompts() -> dict:
    return load_prompts("default")


def _bank_tasks(prompts: dict) -> list[tuple[str, str]]:
    return [(f"{role}[{i}]", demo.fields["task"]) for role, demos in prompts["_demos"].items()
            for i, demo in enumerate(demos, 1)]


def test_the_default_prompt_set_has_examples_for_each_demo_role(prompts):
    assert {role: len(d) >= 8 for role, d in prompts["_demos"].items()} == {"planner": True, "solver": True,
                                                                          "flat": True}


def test_no_demonstration_is_a_bench_item_or_a_template_of_one(prompts):
    """Shown before every bench task, they must not hand the model a bench item: no same text, no same
    skeleton (the same template with other numbers), no reworded one, no function a code task asks for."""
    index = bench_index()
    assert len(index) > 200  # math, coding, HumanEval and the curriculum are all compared
    problems = []
    for name, task in _bank_tasks(prompts):
        entry = task.split("(")[0].removeprefix("def ").strip() if task.startswith("def ") else None
        problems += text_overlaps(name, task, index, entry_point=entry)
    assert problems == []


def test_text_overlaps_finds_a_bench_template_with_other_numbers():
    index = bench_index()
    problems = text_overlaps("x", "In how many ways can a committee of 5 be chosen from 11 people?", index)
    assert any("same template as bench item committee" in p for p in problems)


def test_every_demonstration_reply_is_code_that_runs_or_a_plan_that_parses(prompts):
    from hrm_agent.parsing import extract_code
    from hrm_agent.runner import AGENT_PREAMBLE
    from hrm_agent.sandbox.execute import SandboxLimits, run_code
    from hrm_agent.schemas import Plan, parse_reply

    for demo in prompts["_demos"]["planner"]:
        parse_reply(demo.reply, Plan)
    for role in ("solver", "flat"):
        for demo in prompts["_demos"][role]:
            code = extract_code(demo.reply)
            assert code.rstrip().splitlines()[-1].startswith("RESULT = "), demo.reply
            variables = {}
            for part in demo.fields.get("variables", "").split(";"):
                if "=" in part:
                    key, value = part.split("=")
                    variables[key.strip()] = float(value) if "." in value else int(value)
            res = run_code(code, variables=variables, limits=SandboxLimits(), preamble=AGENT_PREAMBLE)
            assert res.ok and res.result is not None, (demo.fields["task"], res.error)


def test_pick_returns_the_nearest_examples_least_similar_first(prompts):
    bank = DemoBank(prompts, 3)
    picked = bank.pick("flat", "TASK: What is the square root of 50?")
    assert len(picked) == 3 and picked[-1].fields["task"] == "What is the square root of 324?"
    code_task = bank.pick("flat", "TASK: def count_words(text: str) -> int\nReturn the number of words.")
    assert {d.fields["task"].split("(")[0] for d in code_task[1:]} == {"def product_of_list", "def word_lengths"}


def test_apply_puts_the_examples_between_the_system_message_and_the_task(prompts):
    bank = DemoBank(prompts, 2)
    messages = render(prompts, "flat", task="What is 7 * 8?", context="", feedback="")
    out = bank.apply("flat", messages)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert out[0] == messages[0] and out[-1] == messages[-1]
    assert out[1]["content"].startswith("TASK: ") and out[2]["content"].startswith("```python\n")
    # a repair turn appended later does not change which examples are picked: the task is the query
    longer = [*messages, {"role": "assistant", "content": "x"}, {"role": "user", "content": "factorial tree"}]
    assert bank.apply("flat", longer)[1:5] == out[1:5]
    assert bank.apply("critic", messages) == messages  # a role without examples is left alone
    assert DemoBank(prompts, 0).apply("flat", messages) == messages


@pytest.mark.parametrize("cfg, want", [
    ({"backend": "mlx"}, AUTO_K), ({"backend": "mlx", "demos": "auto", "adapter": "a"}, 0),
    ({"backend": "openai", "demos": "auto"}, 0), ({"backend": "openai", "demos": 2}, 2),
    ({"backend": "mlx", "demos": "0"}, 0),
])
def test_demo_count(cfg, want):
    assert demo_count(cfg) == want


@pytest.mark.parametrize("value", ["many", -1, "1.5"])
def test_a_bad_demos_value_is_one_clear_error(value):
    with pytest.raises(AgentError, match="demos must be auto or a whole number"):
        demo_count({"demos": value})


@pytest.mark.parametrize("demos, message", [
    ({"critic": []}, "demos for unknown role 'critic'"),
    ({"flat": [{"task": "t"}]}, r"demos.flat\[1\] needs a `task` and a `reply`"),
    ({"flat": [{"task": "t", "reply": "r", "subgoal": "s"}]}, r"unknown field\(s\) \['subgoal'\]"),
    ({"flat": "x"}, "must be a list"),
])
def test_a_prompt_file_with_bad_demos_names_the_problem(tmp_path: Path, demos, message):
    data = yaml.safe_load((Path(load_prompts("default")["_path"])).read_text())
    data["demos"] = demos
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(AgentError, match=message):
        load_prompts(path)


class _Recorder:
    """A backend that records what it is sent and answers from a script."""

    name = "scripted"
    model = "scripted"

    def __init__(self, replies: list[str], supports_grammar: bool = False) -> None:
        self.replies, self.sent, self.kwargs = list(replies), [], []
        self.supports_grammar = supports_grammar

    def chat(self, messages, **kw):
        from hrm_agent.backends.chat import ChatResult

        self.sent.append(messages)
        self.kwargs.append(kw)
        return ChatResult(text=self.replies.pop(0), prompt_tokens=10, completion_tokens=5, latency_s=0.0,
                          model="scripted")


def test_session_shows_examples_and_asks_for_the_reply_grammars_only_where_it_can(prompts, tmp_path):
    backend = _Recorder(["```python\nRESULT = 56\n```", '{"action": "submit", "reason": "ok"}'],
                        supports_grammar=True)
    trace = TraceWriter(tmp_path / "run")
    s = Session(backend=backend, prompts=prompts, budget=Budget(), trace=trace, demos=DemoBank(prompts, 3),
                reply_grammars=True)
    with trace:
        s.call("flat", render(prompts, "flat", task="What is 7 * 8?", context="", feedback=""))
        s.call("critic", render(prompts, "critic", task="What is 7 * 8?", results="1. x -> 56"))
    assert len(backend.sent[0]) == 2 + 2 * 3 and backend.kwargs[0].get("grammar") == CODE_BLOCK_GRAMMAR
    assert len(backend.sent[1]) == 2 and "grammar" not in backend.kwargs[1]
    calls = [e for e in read_trace(tmp_path / "run") if e["event"] == "model_call"]
    assert len(calls[0]["messages"]) == 8  # the trace shows what the model was really sent
    plain = _Recorder(["```python\nRESULT = 56\n```"])
    s2 = Session(backend=plain, prompts=prompts, budget=Budget(), trace=TraceWriter(tmp_path / "r2"),
                 reply_grammars=True)
    with s2.trace:
        s2.call("flat", render(prompts, "flat", task="What is 7 * 8?", context="", feedback=""))
    assert len(plain.sent[0]) == 2 and "grammar" not in plain.kwargs[0]


def test_the_synthesizer_is_asked_for_one_line_in_the_answer_format(prompts, tmp_path):
    from hrm_agent.constrained import format_grammar

    backend = _Recorder(["Answer: 391"], supports_grammar=True)
    s = Session(backend=backend, prompts=prompts, budget=Budget(), trace=TraceWriter(tmp_path / "run"),
                reply_grammars=True)
    with s.trace:
        s.call("synthesizer", [{"role": "user", "content": "x"}], answer_format="Answer: <liters>")
    assert backend.kwargs[0]["grammar"] == format_grammar("Answer: <liters>")


@pytest.mark.parametrize("fmt, text, accepted", [
    ("Answer: <liters>", "Answer: 1279.4304", True), ("'Answer: <liters>'", "Answer: 12", True),
    ("Answer: <liters>", "The answer is 12", False), ("Answer: <liters>", "Answer: 12\nand more", False),
    ("Answer: <n>.", "Answer: 7", True),
])
def test_format_grammar(model_dir, fmt, text, accepted):
    import llguidance
    from mlx_lm.utils import load_tokenizer

    from hrm_agent.constrained import _ll_tokenizer, _lark, format_grammar

    tok = load_tokenizer(model_dir)
    m = llguidance.LLMatcher(_ll_tokenizer(tok), _lark(format_grammar(fmt)), log_level=0)
    assert (all(m.consume_token(t) for t in tok.encode(text, add_special_tokens=False)) and m.is_accepting()) \
        is accepted


@pytest.mark.parametrize("fmt", ["Total = <n> L.", "Answer: <a> and <b>", "Answer", "<value>"])
def test_no_format_grammar_where_a_value_could_swallow_the_rest(fmt):
    from hrm_agent.constrained import format_grammar

    assert format_grammar(fmt) is None


def test_code_block_grammar_accepts_a_block_ending_in_result_and_nothing_else(model_dir):
    import llguidance
    from mlx_lm.utils import load_tokenizer

    from hrm_agent.constrained import CODE_BLOCK_GRAMMAR, CODE_LINES, _ll_tokenizer, _lark

    tok = load_tokenizer(model_dir)
    ll = _ll_tokenizer(tok)

    def accepted(text: str) -> bool:
        m = llguidance.LLMatcher(ll, _lark(CODE_BLOCK_GRAMMAR), log_level=0)
        return all(m.consume_token(t) for t in tok.encode(text, add_special_tokens=False)) and m.is_accepting()

    assert accepted("```python\nRESULT = 17 * 23\n```")
    assert accepted("```python\ndef f(x):\n    return x + 1\n\nRESULT = f(2)\n```")
    assert not accepted("17 * 23 = 391")
    assert not accepted("```python\nresult = 17 * 23\n```")
    assert not accepted("```python\nRESULT = 1\nprint(RESULT)\n```")
    assert not accepted("```python\nx = 1\n```\nRESULT = 1\n```")  # no fence closed early, then prose
    assert accepted("```python\n" + "x = 1\n" * CODE_LINES + "RESULT = x\n```")
    assert not accepted("```python\n" + "x = 1\n" * (CODE_LINES + 1) + "RESULT = x\n```")


def test_the_local_model_writes_a_result_block_under_the_grammar(model_dir):
    """Greedy SmolLM2 asked for 17 * 23 with no example loops on a helper call until the token limit; under
    the grammar, with the worked examples, it writes a block whose last line sets RESULT, and computes 391."""
    from hrm_agent.backends.mlx_backend import MLXBackend
    from hrm_agent.parsing import extract_code
    from hrm_agent.sandbox.execute import SandboxLimits, run_code

    prompts = load_prompts("default")
    messages = render(prompts, "flat", task="What is 17 * 23?", context="", feedback="")
    backend = MLXBackend(str(model_dir))
    bare = backend.chat(messages, max_tokens=48, grammar=CODE_BLOCK_GRAMMAR)
    assert bare.extra["structured"] == "lark" and bare.text.startswith("```python\n")
    res = backend.chat(DemoBank(prompts, 3).apply("flat", messages), max_tokens=96, grammar=CODE_BLOCK_GRAMMAR)
    code = extract_code(res.text)
    assert res.finish_reason != "length" and res.text.rstrip().endswith("```")
    assert code.rstrip().splitlines()[-1].startswith("RESULT = ")
    ran = run_code(code, limits=SandboxLimits())
    assert ran.ok and ran.result == 391
