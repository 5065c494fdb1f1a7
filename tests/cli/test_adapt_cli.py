"""`hrm solve --task --adapt` and `hrm eval --adapt` through the real CLI on a tiny TRM trained on a small
synthetic ARC family: the answers, the points file, the measurement's files, and bad inputs in one line."""

from __future__ import annotations

import json
import shutil

import mlx.core as mx
import pytest
from adapt_runs import adapt_run
from hrm_inprocess import assert_one_line_error, run_main


@pytest.fixture(scope="module")
def arc(tmp_path_factory):
    data, run = adapt_run(tmp_path_factory)
    task = sorted((data / "tasks" / "evaluation").glob("*.json"))[0]
    return data, run, task


def test_solve_adapts_and_writes_its_points(arc, tmp_path):
    _, run, task = arc
    points = tmp_path / "p.jsonl"
    out = run_main("solve", str(run), "--task", str(task), "--adapt", "bopro", "--evaluations", "6", "--batch", "2",
                   "--points", str(points), "--json")
    assert out.returncode in (0, 1), out.stderr  # 1: the answer differs from the task file's test output
    doc = json.loads(out.stdout)
    assert doc["method"] == "bopro" and doc["evaluations"] == 6 and doc["task"] == task.stem
    assert isinstance(doc["outputs"][0], list) and doc["correct"][0] in (True, False)
    lines = [json.loads(line) for line in points.read_text().splitlines()]
    assert [r["evaluation"] for r in lines] == [1, 2, 3, 4, 5, 6] and {r["method"] for r in lines} == {"bopro"}
    shown = run_main("solve", str(run), "--task", str(task), "--adapt", "gradient", "--evaluations", "4",
                     "--samples", "2")
    assert shown.returncode in (0, 1), shown.stderr
    assert "adapt gradient: 4 evaluations" in shown.stdout and "model's answer" in shown.stdout


def test_plain_solve_places_the_task_on_the_checkpoints_canvas(arc):
    _, run, task = arc
    out = run_main("solve", str(run), "--file", str(task), "--json")
    assert out.returncode in (0, 1), out.stderr
    assert len(json.loads(out.stdout)["solutions"][0]["inputs"]) == 121


def test_eval_measures_methods_against_evaluations(arc, tmp_path):
    data, run, _ = arc
    out = run_main("eval", str(run), "--data", str(data), "--adapt", "none,random,bopro,gradient", "--evaluations",
                   "4", "--limit", "2", "--output", str(tmp_path / "m"), "--plot", str(tmp_path / "m.png"), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["tasks"] == 2 and set(doc["methods"]) == {"none", "random", "bopro", "gradient"}
    for method in doc["methods"].values():
        assert len(method["exact"]) == 4 and all(lo <= m <= hi for m, lo, hi in method["exact"])
    assert set(doc["paired"]) == {"bopro-random", "bopro-gradient", "gradient-random"}
    assert json.loads((tmp_path / "m" / "result.json").read_text())["tasks"] == 2
    lines = (tmp_path / "m" / "points.jsonl").read_text().splitlines()
    assert len(lines) == 2 * (1 + 4 + 4 + 2)
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    trained = run_main("eval", str(run), "--data", str(data), "--split", "train", "--adapt", "trained",
                       "--evaluations", "1", "--limit", "2", "--output", str(tmp_path / "t"), "--json")
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["methods"]["trained"]["exact"][0][0] in (0.0, 0.5, 1.0)


def test_held_out_tasks_alone_are_a_dataset_to_adapt_on(arc, tmp_path):
    """A folder of new tasks (evaluation/ only) builds a test split only, which `hrm eval --adapt` scores."""
    data, run, _ = arc
    source = tmp_path / "mine" / "evaluation"
    source.mkdir(parents=True)
    for task in sorted((data / "tasks" / "evaluation").glob("*.json"))[:2]:
        shutil.copy(task, source / task.name)
    canvas = json.loads((data / "build.json").read_text())["grid"][0]
    built = run_main("data", "build", "arc", "--source-dir", str(tmp_path / "mine"), "--canvas", str(canvas),
                     "--num-aug", "0", "--eval-demos", "exclude", "--offsets", "origin", "--output", str(tmp_path / "d"))
    assert built.returncode == 0, built.stderr
    assert not (tmp_path / "d" / "train").exists()
    out = run_main("eval", str(run), "--data", str(tmp_path / "d"), "--adapt", "none,random", "--evaluations", "2",
                   "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["tasks"] == 2 and set(doc["methods"]) == {"none", "random"}


def _task(tmp_path, task):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(task))
    return str(path)


GOOD = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3, 4]]}]}


@pytest.mark.parametrize("task, fragment", [
    ({"train": [], "test": [{"input": [[1]]}]}, "no demonstration pairs"),
    ({"test": [{"input": [[1]]}]}, "no demonstration pairs"),
    ({"train": [{"input": [[1] * 12] * 12, "output": [[1]]}], "test": [{"input": [[1]]}]},
     "train[0].input: grid 12x12 is larger than the model's 11x11 canvas"),
    ({"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[1] * 3] * 14}]},
     "test[0].input: grid 14x3 is larger than the model's 11x11 canvas"),
    ({"train": [{"input": [[1, 12]], "output": [[1]]}], "test": [{"input": [[1]]}]}, "cell 12 at row 0, column 1"),
    ({"train": [{"input": [[1]], "output": [[-1]]}], "test": [{"input": [[1]]}]}, "is not a colour"),
    ({"train": [{"input": [[1]]}], "test": [{"input": [[1]]}]}, "train[0] needs an 'input' and an 'output'"),
])
def test_bad_tasks_are_one_line(arc, tmp_path, task, fragment):
    _, run, _ = arc
    out = run_main("solve", str(run), "--task", _task(tmp_path, task), "--adapt", "random", "--evaluations", "2")
    assert_one_line_error(out, fragment)


@pytest.mark.parametrize("args, fragment", [
    (["--adapt", "random", "--evaluations", "0"], "--evaluations must be between 1 and"),
    (["--adapt", "annealing"], "unknown --adapt method 'annealing'"),
    (["--adapt", "bopro", "--acquisition", "pi"], "--acquisition must be one of: ei, ucb, thompson"),
    (["--adapt", "random", "--draws", "uniform"], "--draws must be one of: gaussian, trained"),
    (["--adapt", "random", "--evaluations", "4", "--samples", "5"], "--samples with --adapt"),
    (["--adapt", "random", "--latent-dim", "0"], "--latent-dim must be at least 1"),
    (["--adapt", "random", "--steps"], "--steps and --verify are not available"),
])
def test_bad_solve_options_are_one_line(arc, tmp_path, args, fragment):
    _, run, _ = arc
    assert_one_line_error(run_main("solve", str(run), "--task", _task(tmp_path, GOOD), *args), fragment)


@pytest.mark.parametrize("args, fragment", [
    (["--adapt", "random,annealing"], "unknown --adapt method 'annealing'"),
    (["--adapt", "bopro", "--evaluations", "0"], "--evaluations must be between 1 and"),
    (["--adapt", ","], "--adapt needs at least one method"),
    (["--adapt", "none", "--split", "val"], "--split must be test"),
    (["--adapt", "none", "--samples", "4"], "--samples and --verify are not used"),
    (["--adapt", "trained"], "has no trained embedding for this task"),
])
def test_bad_eval_options_are_one_line(arc, tmp_path, args, fragment):
    data, run, _ = arc
    out = run_main("eval", str(run), "--data", str(data), "--limit", "1", "--output", str(tmp_path / "o"), *args)
    assert_one_line_error(out, fragment)


def test_a_checkpoint_without_task_embeddings_is_one_line(arc, tmp_path):
    """The same run with its puzzle-embedding table zeroed (no task ever trained), and a Sudoku checkpoint."""
    _, run, task = arc
    blank = tmp_path / "blank"
    shutil.copytree(run, blank)
    for ckpt in (blank / "checkpoints").glob("step_*"):
        weights = mx.load(str(ckpt / "model.safetensors"))
        weights["puzzle_emb"] = mx.zeros_like(weights["puzzle_emb"])
        mx.save_safetensors(str(ckpt / "model.safetensors"), weights)
    out = run_main("solve", str(blank), "--task", str(task), "--adapt", "bopro")
    assert_one_line_error(out, "0 trained task embeddings")
    assert run_main("data", "build", "sudoku", "--size", "4", "--count", "32", "--test-count", "4",
                    "-o", str(tmp_path / "s4")).returncode == 0
    trained = run_main("train", str(tmp_path / "s4"), "--config", "trm-tiny", "arch.hidden_size=16",
                       "arch.num_heads=2", "max_steps=1", "eval_interval=null", "epochs=10", "global_batch_size=8",
                       f"runs_dir={tmp_path / 'runs'}", "--run-name", "s")
    assert trained.returncode == 0, trained.stderr
    assert_one_line_error(run_main("solve", str(tmp_path / "runs" / "s"), "--task", str(task), "--adapt", "random"),
                          "--adapt is for ARC checkpoints")
