"""Self-consistency votes (agent/voting/ballot.py): what counts as the same answer, who wins, and the settings."""

from __future__ import annotations

import pytest

from hrm_agent.errors import AgentError
from hrm_agent.voting.ballot import (MAX_LEAVES, Num, default_min_agreement, normalise, same, sampling_from_config,
                                     vote)


@pytest.mark.parametrize("a, b", [
    (391, 391.0), (391, " 391 "), ("391", "391.0"), (0.1 + 0.2, 0.3), ("1,279.43", 1279.4304),
    ("$12", 12), ("25%", 25), ("12 km", 12.0), ("1.5e3", 1500), (" Paris. ", "'paris'"), ("a  b", "A B"),
    ([1, 2], "[1, 2.0]"), ({"x": 1, "y": [2]}, {"y": [2.0], "X": 1}), (2 ** 70, 2 ** 70),
])
def test_the_same_answer_written_differently(a, b):
    assert same(normalise(a), normalise(b)), (a, b)


@pytest.mark.parametrize("a, b", [
    (391, 390), ("391", 391.4), (True, 1), ([1, 2], [2, 1]), ("paris", "london"), (2 ** 70, 2 ** 70 + 1),
    ({"x": 1}, {"x": 1, "y": 2}), ("1279.43", 1279.44), (0.0, 1e-6), ([1, 2], [1, 2, 3]),
])
def test_different_answers_stay_apart(a, b):
    assert not same(normalise(a), normalise(b)), (a, b)


def test_written_decimals_carry_half_a_unit():
    assert normalise("1279.43") == Num(1279.43, pytest.approx(0.005))
    assert normalise("391") == Num(391.0, 0.0)  # an integer as written is exact, not +-0.5


def test_the_issue_example_agrees_on_391():
    v = vote([391, 391.0, " 391 ", 390, None], default_min_agreement(5))
    assert (v.agreement, v.agreed, v.tied) == (3, True, False)
    assert v.winner is not None and v.winner.value == 391 and v.winner.members == [0, 1, 2]
    d = v.as_dict()
    assert d["counts"] == [{"value": "391", "votes": 3, "samples": [0, 1, 2]},
                           {"value": "390", "votes": 1, "samples": [3]}]
    assert d["no_value"] == 1 and d["winner"] == "391" and d["min_agreement"] == 3
    assert v.summary() == "of 5 samples: 3 gave 391; 1 gave 390; 1 no value"


def test_disagreement_and_ties_are_no_agreement():
    v = vote([8400, 84, 625, 51, None], 3)
    assert (v.agreement, v.agreed, v.winner) == (0, False, None) and v.tied  # four values, one vote each
    tie = vote([1, 2, 1, 2], 1)  # even at threshold 1 a tie at the top is no winner
    assert tie.tied and tie.agreement == 0 and not tie.agreed and tie.leader.value == 1
    nothing = vote([None, None, None], 2)
    assert nothing.groups == [] and nothing.agreement == 0 and nothing.summary() == "none of 3 samples gave a value"
    short = vote([7, 7, 8], 3)  # a winner below the threshold
    assert short.winner is not None and short.agreement == 2 and not short.agreed


def test_huge_results_are_compared_exactly_and_quickly():
    big = list(range(MAX_LEAVES * 5))
    assert normalise(big)[0] == "opaque"
    assert vote([big, list(big), big[:-1] + [0]], 2).agreement == 2
    deep: list = []
    for _ in range(200):  # deeper than any RESULT the sandbox lets through: no RecursionError
        deep = [deep]
    assert vote([deep, deep], 2).agreement == 2


def test_default_min_agreement_is_more_than_half_and_at_least_two():
    assert [default_min_agreement(k) for k in (1, 2, 3, 4, 5, 8)] == [1, 2, 2, 3, 3, 5]


@pytest.mark.parametrize("cfg, message", [
    ({"samples": 0}, "--samples must be between 1 and 64, got 0"),
    ({"samples": 65}, "--samples must be between 1 and 64, got 65"),
    ({"samples": "five"}, "--samples must be a whole number"),
    ({"samples": 2.5}, "--samples must be a whole number"),
    ({"samples": 1, "min_agreement": 2}, "--min-agreement 2 needs --samples 2 or more (got --samples 1)"),
    ({"samples": 3, "min_agreement": 4}, "--min-agreement 4 is more than the 3 samples"),
    ({"samples": 3, "min_agreement": 0}, "--min-agreement must be at least 1"),
    ({"samples": 5, "sample_temperature": 0}, "sample_temperature must be above 0 with --samples 5"),
    ({"samples": 5, "sample_temperature": "hot"}, "sample_temperature must be a number"),
])
def test_bad_settings_are_one_line(cfg, message):
    with pytest.raises(AgentError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        sampling_from_config(cfg)
    assert "\n" not in str(info.value)


def test_settings_defaults():
    one = sampling_from_config({})
    assert (one.samples, one.min_agreement, one.voting) == (1, 1, False)
    five = sampling_from_config({"samples": 5, "sample_temperature": 0.7, "sample_seed": 3})
    assert (five.samples, five.min_agreement, five.temperature, five.seed, five.voting) == (5, 3, 0.7, 3, True)
    assert sampling_from_config({"samples": 5, "min_agreement": 5}).min_agreement == 5
