"""hrm_engine.adapt on a tiny TRM really trained on a small synthetic ARC family: every method answers,
the budget is counted as documented, bopro repeats under a seed, the gradient is the loss's gradient,
the JSON lines round-trip, and the latent space maps back and forth."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from adapt_runs import adapt_run

from hrm_engine.adapt.forward import TaskForward
from hrm_engine.adapt.points import best_score_curves, point_lines, read_points, write_points
from hrm_engine.adapt.search import SearchSettings, run_bopro, run_random
from hrm_engine.adapt.space import latent_space
from hrm_engine.adapt.task import adapt_task, adaptation_space, answer_curve
from hrm_engine.solving.arc_task import model_canvas, read_arc_task
from hrm_engine.run.checkpoint import load_checkpoint
from hrm_engine.errors import EngineError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data, run = adapt_run(tmp_path_factory)
    loaded = load_checkpoint(run)
    canvas = model_canvas(loaded.metadata)
    tasks = [read_arc_task(p, canvas, need_demos=True) for p in sorted((data / "tasks" / "evaluation").glob("*.json"))]
    return loaded, tasks, adaptation_space(loaded, 4)


@pytest.mark.parametrize("method, n, evaluations, points", [
    ("none", 6, 0, [0]), ("mean", 6, 0, [0]), ("random", 6, 6, [1, 2, 3, 4, 5, 6]),
    ("bopro", 7, 7, [1, 2, 3, 4, 5, 6, 7]), ("gradient", 6, 6, [1, 3, 5]), ("gradient", 5, 5, [1, 3, 5]),
])
def test_every_method_answers_with_a_grid_within_its_budget(tiny, method, n, evaluations, points):
    loaded, tasks, space = tiny
    task = tasks[0]
    adapted = adapt_task(loaded, task, method, SearchSettings(evaluations=n, batch=3), space)
    assert adapted.search.evaluations == evaluations
    assert [p.evaluation for p in adapted.search.points] == points
    (out,) = adapted.outputs
    assert out.ndim == 2 and max(out.shape) <= 11 and (out.size == 0 or out.max() <= 9)  # 12 steps: may be empty
    assert adapted.correct[0] in (True, False)
    for p in adapted.search.points:
        assert 0 <= p.exact <= 1 and 0 <= p.token <= 1 and p.score == pytest.approx(p.exact + p.token, abs=2e-6)
        assert len(p.latent) == space.dim
    curve = answer_curve(loaded, task, adapted.search, n)
    assert len(curve) == n and set(curve) <= {0.0, 1.0}


def test_none_is_the_zero_row_and_mean_the_centre_of_the_trained_rows(tiny):
    loaded, tasks, space = tiny
    none = adapt_task(loaded, tasks[0], "none", SearchSettings(evaluations=1), space).search
    mean = adapt_task(loaded, tasks[0], "mean", SearchSettings(evaluations=1), space).search
    assert not np.any(none.embeddings[0])
    table = np.array(loaded.model.puzzle_emb)
    trained = table[np.any(table != 0, axis=1)]
    assert np.allclose(mean.embeddings[0], trained.mean(0), atol=1e-5) and mean.points[0].latent == [0.0] * space.dim


def test_bopro_repeats_exactly_under_a_seed_and_shares_the_initial_design_with_random(tiny):
    loaded, tasks, space = tiny
    fwd = TaskForward(loaded.model, 11, tasks[1].demos)
    settings = SearchSettings(evaluations=9, seed=5, initial=3, batch=2)
    a, b = run_bopro(fwd, space, settings), run_bopro(fwd, space, settings)
    assert [p.to_json() for p in a.points] == [p.to_json() for p in b.points]
    assert [p.source for p in a.points] == ["initial"] * 3 + ["gp"] * 6
    assert all(p.acquisition["kind"] == "ei" for p in a.points[3:]) and a.gp_fits
    rnd = run_random(fwd, space, settings)
    assert [p.latent for p in rnd.points[:3]] == [p.latent for p in a.points[:3]]
    assert rnd.points[0].latent == [0.0] * space.dim
    other = run_bopro(fwd, space, SearchSettings(evaluations=9, seed=6, initial=3, batch=2))
    assert [p.latent for p in other.points[1:]] != [p.latent for p in a.points[1:]]


def test_the_gradient_step_is_the_demonstration_loss_gradient(tiny):
    """With one segment and one H cycle the gradient reaches every use of the row: it must match a finite
    difference of the loss along a random direction (float32, central differences)."""
    loaded, tasks, space = tiny
    assert loaded.model.config.H_cycles == 1
    fwd = TaskForward(loaded.model, 11, tasks[0].demos, segments=1)
    rng = np.random.default_rng(0)
    row = space.to_embedding(rng.standard_normal(space.dim))
    _, _, grad = fwd.loss_and_grad(row)
    direction = rng.standard_normal(row.shape).astype(np.float32)
    direction /= np.linalg.norm(direction)
    eps = 1e-2
    up = fwd.loss_and_grad(row + eps * direction)[1]
    down = fwd.loss_and_grad(row - eps * direction)[1]
    numeric = (up - down) / (2 * eps)
    analytic = float(mx.sum(grad * mx.array(direction)).item())
    assert abs(analytic) > 1e-5
    assert analytic == pytest.approx(numeric, rel=0.05, abs=1e-4)


def test_gradient_steps_move_the_row_and_lower_the_demonstration_loss(tiny):
    loaded, tasks, space = tiny
    search = adapt_task(loaded, tasks[2], "gradient", SearchSettings(evaluations=12, lr=0.05), space).search
    losses = [p.loss for p in search.points if p.loss is not None]
    assert len(search.points) == 6 and len(losses) == 6
    assert not np.allclose(search.embeddings[0], search.embeddings[-1])
    assert losses[-1] < losses[0]


def test_points_are_json_lines_that_round_trip(tiny, tmp_path):
    loaded, tasks, space = tiny
    records = []
    for method in ("none", "random", "bopro", "gradient"):
        search = adapt_task(loaded, tasks[3], method, SearchSettings(evaluations=6, batch=3), space).search
        records += point_lines(tasks[3].name, search)
    path = tmp_path / "points.jsonl"
    write_points(path, records)
    lines = path.read_text().splitlines()
    assert len(lines) == len(records) == 1 + 6 + 6 + 3
    for line in lines:
        rec = json.loads(line)
        assert {"type", "task", "method", "evaluation", "latent", "score", "exact", "token", "source",
                "acquisition"} <= set(rec)
        assert rec["type"] == "point" and rec["task"] == tasks[3].name
        assert (rec["acquisition"] is not None) == (rec["source"] == "gp")
    with open(path, "a") as fh:
        fh.write('{"type": "point", "task": "x", "meth')  # a writer cut off mid-line
    assert read_points(path) == records
    curves = best_score_curves(read_points(path), 6)
    assert set(curves) == {"none", "random", "bopro", "gradient"}
    for curve in curves.values():
        assert len(curve) == 6 and all(b >= a for a, b in zip(curve, curve[1:]))
    assert curves["random"][-1] == max(r["score"] for r in records if r["method"] == "random")


def test_the_latent_space_maps_back_and_needs_trained_rows():
    rng = np.random.default_rng(1)
    table = np.zeros((20, 16), np.float32)
    table[3:15] = rng.standard_normal((12, 16))
    space = latent_space(table, 4)
    assert space.dim == 4 and space.trained_rows == 12 and 0 < space.explained < 1
    z = rng.standard_normal((5, 4))
    assert np.allclose(space.to_latent(space.to_embedding(z)), z, atol=1e-4)
    assert np.allclose(space.to_latent(table[3:15]).std(0, ddof=1), 1.0, atol=1e-4)
    with pytest.raises(EngineError, match="1 trained task embeddings"):
        latent_space(np.eye(1, 16, dtype=np.float32).repeat(3, 0) * [[1], [0], [0]], 4)


def test_a_task_without_demonstrations_is_refused(tiny, tmp_path):
    loaded, _, space = tiny
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"train": [], "test": [{"input": [[1]]}]}))
    with pytest.raises(EngineError, match="no demonstration pairs"):
        read_arc_task(Path(path), 11, need_demos=True)


@pytest.mark.parametrize("acquisition", ["ucb", "thompson"])
def test_bopro_runs_with_each_acquisition(tiny, acquisition):
    loaded, tasks, space = tiny
    fwd = TaskForward(loaded.model, 11, tasks[1].demos)
    search = run_bopro(fwd, space, SearchSettings(evaluations=6, initial=2, batch=2, acquisition=acquisition))
    assert search.evaluations == 6 and len({tuple(p.latent) for p in search.points}) == 6
    assert all(p.acquisition["kind"] == acquisition for p in search.points[2:])


def test_trained_draws_search_the_trained_tasks_own_points(tiny):
    loaded, tasks, space = tiny
    fwd = TaskForward(loaded.model, 11, tasks[1].demos)
    assert len(space.anchors) == space.trained_rows
    assert np.allclose(space.to_latent(space.to_embedding(space.anchors)), space.anchors, atol=1e-4)

    def nearest(points):  # index of the nearest trained point, and how far it is
        d = np.linalg.norm(np.array([p.latent for p in points])[:, None] - space.anchors[None], axis=-1)
        return d.argmin(1), d.min(1)

    settings = SearchSettings(evaluations=8, seed=2, initial=3, batch=2, draws="trained")
    rnd = run_random(fwd, space, settings)
    assert np.allclose(rnd.points[0].latent, 0, atol=1e-3)
    which, far = nearest(rnd.points[1:])
    assert far.max() < 1e-3 and len(set(which.tolist())) == 7  # trained points, without replacement
    bo = run_bopro(fwd, space, settings)
    assert [p.latent for p in bo.points[:3]] == [p.latent for p in rnd.points[:3]]
    assert bo.evaluations == 8 and [p.source for p in bo.points[3:]] == ["gp"] * 5
    _, far = nearest(run_random(fwd, space, SearchSettings(evaluations=8, seed=2)).points[1:])
    assert far.min() > 1e-2
    assert run_random(fwd, space, SearchSettings(evaluations=1, draws="trained")).evaluations == 1
    many = run_random(fwd, space, SearchSettings(evaluations=space.trained_rows + 3, batch=8, draws="trained"))
    which, far = nearest(many.points[1:])
    assert far.max() < 1e-3 and len(set(which[:space.trained_rows].tolist())) == space.trained_rows
