"""tune_data: the generated traces parse with the controllers' own parsers, reach the reference answers,
never coincide with a bench item, and the two schedules order the same examples differently."""

from __future__ import annotations

from collections import Counter

import pytest

from hrm_agent.tune import code_tasks as tc
from hrm_agent.tune import data as td
from hrm_agent.controllers import flat_verdict
from hrm_agent.outcome import judge, requested_format
from hrm_agent.parsing import extract_code
from hrm_agent.prompts import load_prompts
from hrm_agent.schemas import Critique, Plan, parse_reply
from hrm_agent.bench.suites import Task, check_answer, check_code, load_suite
from hrm_agent.tune.lora import example_order, stage_of


@pytest.fixture(scope="module")
def tasks() -> list[td.GenTask]:
    return td.generate(240, seed=0)


@pytest.fixture(scope="module")
def examples(tasks) -> list[td.Example]:
    return td.build_examples(tasks, load_prompts("default"))


def test_every_template_and_depth_appears(tasks):
    assert {g.template for g in tasks} == set(td.TEMPLATES) | {"chain"} | {f"code-{n}" for n in tc.TEMPLATES}
    assert Counter(g.plain for g in tasks if g.task.kind == "numeric" and g.template != "chain")[True] == 60
    assert {g.depth for g in tasks if g.template == "chain"} == set(td.CHAIN_DEPTHS)


def test_reference_solutions_reach_the_answers(tasks):
    assert td.verify(tasks) == []


def test_generation_is_seeded(tasks):
    again = td.generate(40, seed=0)
    other = td.generate(40, seed=1)
    assert [g.task.prompt for g in again] == [g.task.prompt for g in tasks[:40]]
    assert sum(a.task.prompt == b.task.prompt for a, b in zip(again, other)) < 4


def test_replies_parse_with_the_controllers_parsers(tasks, examples):
    by_task = {g.task.id: g for g in tasks}
    seen = Counter()
    for ex in examples:
        gen = by_task[ex.task_id]
        task_text = gen.text
        reply = ex.messages[-1]["content"]
        seen[ex.role] += 1
        assert ex.messages[-1]["role"] == "assistant" and [m["role"] for m in ex.messages[:-1]] == ["system", "user"]
        assert task_text in ex.messages[1]["content"]
        if ex.role == "planner":
            plan = parse_reply(reply, Plan)
            assert plan.subgoals == [s.subgoal for s in gen.steps]
            assert plan.final_format == requested_format(task_text, None)  # the task's own format, kept
        elif ex.role == "critic":
            assert parse_reply(reply, Critique).action == "submit"
        elif ex.role in ("solver", "flat"):
            code = extract_code(reply)
            assert reply.startswith("```python\n") and reply.endswith("\n```")
            compile(code, "<reply>", "exec")
            assert "RESULT" in code
            if gen.task.kind == "code":  # the function itself, then its value on the prompt's example
                assert f"def {gen.task.entry_point}(" in code and code.rstrip().splitlines()[-1].startswith(
                    f"RESULT = {gen.task.entry_point}(")
        elif ex.role == "synthesizer":
            results = [td.run_reference(s.code, {})[0] for s in gen.steps[:1]]
            final = _final_value(gen)
            verdict = judge(reply, requested_format(task_text, None), [*results, final],
                            prompt_texts=[m["content"] for m in ex.messages[:-1]])
            assert verdict.answered, (reply, verdict)
            if gen.task.kind != "code":  # a code task is graded on its function (see the sandbox test below)
                assert check_answer(gen.task, reply).passed
        else:
            raise AssertionError(ex.role)
    assert set(seen) == {"planner", "solver", "critic", "synthesizer", "flat"}
    assert seen["solver"] == sum(g.depth for g in tasks)


def _final_value(gen: td.GenTask):
    variables: dict = {}
    result = None
    for i, step in enumerate(gen.steps, 1):
        result, _r, exported = td.run_reference(step.code, variables)
        variables.update(exported)
        variables[f"S{i}"] = result
    return result


def test_flat_code_is_accepted_as_the_flat_controller_accepts_it(tasks):
    for gen in tasks[:120]:
        result, _r, _v = td.run_reference(td.flat_code(gen), {})
        verdict = flat_verdict(requested_format(gen.text, None), result)
        assert verdict.answered, (gen.task.id, result, verdict)
        if gen.task.kind != "code":
            assert check_answer(gen.task, verdict.answer).passed


def test_code_replies_pass_the_benchs_own_grader_in_the_sandbox(tasks):
    """The reply a code example teaches, graded as the bench grades an agent: the hidden tests run
    against it in the sandbox. A broken reply (the function's body cut) fails the same grader."""
    code = [g for g in tasks if g.task.kind == "code"][:8]
    assert {g.template for g in code} and len({g.template for g in code}) == len(code)
    for gen in code:
        reply = f"```python\n{td.flat_code(gen)}\n```"
        assert check_code(gen.task, reply, []).passed, gen.task.id
    gen = code[0]
    broken = td.flat_code(gen).replace("return", "return None and", 1)
    assert not check_code(gen.task, f"```python\n{broken}\n```", []).passed


def test_plain_tasks_are_asked_without_a_format_and_planned_with_the_default(tasks, examples):
    plain = {g.task.id: g for g in tasks if g.plain}
    assert plain and all("Return exactly" not in g.text and g.text == g.task.prompt.strip() for g in plain.values())
    plans = [ex for ex in examples if ex.task_id in plain and ex.role == "planner"]
    assert plans and all(parse_reply(ex.messages[-1]["content"], Plan).final_format == "Answer: <value>"
                         for ex in plans)
    answers = [ex.messages[-1]["content"] for ex in examples if ex.task_id in plain and ex.role == "synthesizer"]
    assert all(a.startswith("Answer: ") for a in answers)


def test_solver_code_chains_through_the_variables_the_controller_shows(examples):
    # the second solver of a chain reads S1, which the rendered prompt lists among its variables
    second = [ex for ex in examples if ex.role == "solver" and "SUBGOAL: Step 2:" in ex.messages[1]["content"]]
    assert second
    for ex in second[:10]:
        assert "S1 = " in ex.messages[1]["content"]
        assert "S1" in extract_code(ex.messages[-1]["content"])


def test_prompts_are_the_live_prompt_set(examples):
    prompts = load_prompts("default")
    for ex in examples[:30]:
        assert ex.messages[0]["content"] == prompts[ex.role]["system"].format().strip()


def test_no_generated_task_coincides_with_a_bench_item():
    generated = td.generate(1500, seed=0) + td.generate(300, seed=7)
    assert td.check_disjoint(generated) == []


def test_the_disjointness_check_catches_bench_items():
    bench = td.bench_items()
    math_item = next(t for t in load_suite("math").tasks if t.id == "tank-leak")
    same = td.GenTask("copy", math_item, [])
    renumbered_task = type(math_item)(id="x", kind="numeric", prompt=math_item.prompt.replace("1200", "1500"),
                                      answer=0)
    renumbered = td.GenTask("copy", renumbered_task, [])
    chain_item = next(t for t in bench if t.depth == 2)
    chain = td.chain_task(0, 2, 0)
    problems = td.check_disjoint([same, renumbered], bench)
    assert any("same text as bench item tank-leak" in p for p in problems)
    assert any("same template as bench item tank-leak" in p for p in problems)
    forged = td.GenTask("chain", chain_item, [], instance=_instance_of(chain_item))
    assert any("same chain" in p for p in td.check_disjoint([forged], bench))
    assert td.check_disjoint([chain], bench) == []
    # a function task that asks for a coding-suite function, or a HumanEval one, under any wording
    for entry, bench_id in (("is_palindrome", "is-palindrome"), ("has_close_elements", "HumanEval/0")):
        asked = Task(id=f"x-{entry}", kind="code", prompt=f"def {entry}(x)\nSomething else entirely.",
                     entry_point=entry)
        assert any(f"as bench item {bench_id} asks" in p
                   for p in td.check_disjoint([td.GenTask("code-x", asked, [])], bench))
    reworded = next(t for t in load_suite("coding").tasks if t.id == "second-largest")
    copy = Task(id="y", kind="code", prompt=reworded.prompt.replace("second_largest", "runner_up"),
                entry_point="runner_up")
    assert any("of its words are in bench item second-largest" in p
               for p in td.check_disjoint([td.GenTask("code-y", copy, [])], bench))


def _instance_of(task):
    import random

    from hrm_agent.bench.curriculum import make_chain

    seed = int(task.source.split("=")[1])
    index = int(task.id.rsplit("-", 1)[1])
    start, steps, _ = make_chain(random.Random(f"curriculum:{seed}:{task.depth}:{index}"), task.depth)
    return (repr(start), tuple(steps))


def test_curriculum_and_mixed_use_the_same_examples_and_steps(examples):
    steps = [ex.steps for ex in examples]
    lengths = [len(str(ex.messages)) for ex in examples]
    n_steps, batch = 120, 4
    mixed = example_order(steps, n_steps, batch, "mixed", 0, lengths)
    cur = example_order(steps, n_steps, batch, "curriculum", 0, lengths)
    assert len(mixed) == len(cur) == n_steps and all(len(b) == batch for b in mixed + cur)
    flat_m = [i for b in mixed for i in b]
    flat_c = [i for b in cur for i in b]
    assert len(flat_m) == len(flat_c) == n_steps * batch
    stages = [stage_of(steps[i]) for i in flat_c]
    assert stages == sorted(stages) and set(stages) == {2, 3, 4}  # 2 -> 3 -> 4, in that order
    assert [stage_of(steps[i]) for i in flat_m] != sorted(stage_of(steps[i]) for i in flat_m)
    # each stage gets its share of the run: the same number of visits per stage in both schedules (±1 batch)
    count_m = Counter(stage_of(steps[i]) for i in flat_m)
    count_c = Counter(stages)
    for stage in (2, 3, 4):
        assert abs(count_m[stage] - count_c[stage]) <= 0.15 * n_steps * batch
    # fewer examples than the run needs: every example is used before any is used twice
    small = example_order(steps[:40], 10, 4, "mixed", 0)
    assert sorted(i for b in small for i in b) == list(range(40))


def test_orders_are_seeded():
    steps = [2, 3, 4] * 10
    assert example_order(steps, 6, 4, "mixed", 0) == example_order(steps, 6, 4, "mixed", 0)
    assert example_order(steps, 6, 4, "mixed", 0) != example_order(steps, 6, 4, "mixed", 1)


def test_roles_option_keeps_only_those_model_calls():
    from hrm_agent.tune.lora import TuneOptions, training_examples

    only = training_examples(TuneOptions(examples=12, roles=("flat", "synthesizer")))
    assert {ex.role for ex in only} == {"flat", "synthesizer"} and len(only) == 24
