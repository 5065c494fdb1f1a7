"""Voting: the majority wins, ties go to the halting head's confidence, then to the earlier sample."""

from __future__ import annotations

import numpy as np

from hrm_engine.solving.voting import vote, vote_margin

A, B, C = np.array([1, 2, 3]), np.array([3, 2, 1]), np.array([2, 2, 2])


def test_majority_wins_over_confidence():
    ranked = vote([A, B, A, C, A, B], [0.1, 0.9, 0.2, 0.99, 0.3, 0.9])
    assert np.array_equal(ranked[0].prediction, A) and ranked[0].votes == 3 and ranked[0].samples == [0, 2, 4]
    assert abs(ranked[0].confidence - 0.2) < 1e-12  # the mean over its voters
    assert [c.votes for c in ranked] == [3, 2, 1] and vote_margin(ranked) == 1


def test_ties_are_broken_by_mean_confidence_then_first_sample():
    ranked = vote([A, B, B, A], [0.9, 0.6, 0.7, 0.8])  # A: 2 votes, mean 0.85; B: 2 votes, mean 0.65
    assert np.array_equal(ranked[0].prediction, A) and vote_margin(ranked) == 0
    ranked = vote([B, A], [0.5, 0.5])
    assert np.array_equal(ranked[0].prediction, B)
    assert vote_margin(vote([A], [0.1])) == 1 and vote_margin([]) == 0


def test_grids_of_different_shapes_are_different_answers():
    ranked = vote([np.zeros((2, 3)), np.zeros((3, 2)), np.zeros((2, 3))], [0.5, 0.9, 0.5])
    assert ranked[0].prediction.shape == (2, 3) and ranked[0].votes == 2
