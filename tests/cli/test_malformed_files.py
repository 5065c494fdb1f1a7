"""Malformed files the user may hand us, or a crash may leave, end in one line naming the file (exit 2).

Run files (best.json, state.json, config.yaml, build.json, dataset.json) under `hrm eval`, `hrm solve`
and `hrm train --resume`; CSVs under `hrm data build`; traces under `hrm agent show`; out-of-range
options; an unsolvable Sudoku under `hrm solve`. The run is an untrained tiny model saved as a
checkpoint (no training needed); each case breaks one file of a fresh copy in tmp_path.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hrm_inprocess import assert_one_line_error, run_main

from hrm_datasets.build_sudoku import build_sudoku

ARCH = ["arch.hidden_size=16", "arch.num_heads=2", "arch.H_layers=1", "arch.L_layers=1", "arch.halt_max_steps=1"]
CKPT = "checkpoints/step_0000002"
PUZZLE = "1..4.3...1..2..3"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(dataset, run directory): a 4x4 Sudoku build and a run holding one checkpoint of an untrained model."""
    from hrm_datasets.format import load_metadata
    from hrm_engine.checkpoint import mark_best, save_checkpoint
    from hrm_engine.config import dump_yaml
    from hrm_engine.config_ranges import resolve_train_config
    from hrm_engine.models.hrm import HRM, ModelConfig

    root = tmp_path_factory.mktemp("malformed")
    data = root / "d"
    build_sudoku(data, size=4, difficulty="easy", count=8, test_count=4, seed=0)
    cfg = resolve_train_config("hrm-tiny", None, [*ARCH, "global_batch_size=4", "eval_interval=null", "compile=false"])
    run = root / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_yaml(cfg))
    for name in ("build.json", "identifiers.json"):
        shutil.copyfile(data / name, run / name)
    shutil.copyfile(data / "train" / "dataset.json", run / "dataset.json")
    model = HRM(ModelConfig.from_config(cfg, load_metadata(data, "train")))
    sampler = {"pass": 1, "batches_in_pass": 2, "seed": 0, "epochs_per_iter": 60, "global_batch_size": 4}
    ckpt = save_checkpoint(run, 2, model, None, None, {"sampler": sampler, "seed": 0, "epoch": 1.0})
    mark_best(run, ckpt, 0.0)
    return data, run


@pytest.fixture
def work(made, tmp_path):
    """Fresh copies (data `d`, run `runs/x`) inside tmp_path, the working directory of each command."""
    data, run = made
    shutil.copytree(data, tmp_path / "d")
    shutil.copytree(run, tmp_path / "runs" / "x")
    return tmp_path


def _write(relpath, content):
    def mutate(root):
        path = root / relpath
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return mutate


def _edit(relpath, old, new):
    def mutate(root):
        path = root / relpath
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
    return mutate


EVAL = ("eval", "runs/x", "--data", "d")
SOLVE = ("solve", "runs/x", "--puzzle", PUZZLE)
RESUME = ("train", "d", "--resume", "runs/x", "max_steps=3")
BEST, STATE = "runs/x/checkpoints/best.json", f"runs/x/{CKPT}/state.json"

RUN_FILES = [
    ("best.json garbage", EVAL, _write(BEST, "\x00garbage{"), BEST, "malformed JSON"),
    ("best.json without keys", EVAL, _write(BEST, "{}"), BEST, "missing field 'checkpoint'"),
    ("best.json a list", EVAL, _write(BEST, "[]"), BEST, "got an array"),
    ("best.json binary", EVAL, _write(BEST, b"\xff\xd8\xff\xe0"), BEST, "not UTF-8"),
    ("best.json escaping checkpoints/", EVAL, _write(BEST, '{"checkpoint": "../../x"}'), BEST, "must name a folder"),
    ("best.json accuracy a string", SOLVE, _write(BEST, '{"checkpoint": "step_0000002", "exact_accuracy": "x"}'),
     BEST, "'exact_accuracy' must be a finite number"),
    ("state.json truncated, resume", RESUME, lambda r: (r / STATE).write_text((r / STATE).read_text()[:30]), STATE,
     "malformed JSON"),
    ("state.json empty, resume", RESUME, _write(STATE, ""), STATE, "empty file"),
    ("state.json sampler without pass, resume", RESUME, _write(STATE, '{"step": 2, "sampler": {}}'), STATE,
     "missing field 'pass'"),
    ("state.json step a string, resume", RESUME, _write(STATE, '{"step": "2"}'), STATE, "'step' must be an integer"),
    ("state.json truncated, eval", EVAL, _write(STATE, '{"st'), STATE, "malformed JSON"),
    ("state.json a number, solve", SOLVE, _write(STATE, "7"), STATE, "got a number"),
    ("config.yaml a list, eval", EVAL, _write("runs/x/config.yaml", "- 1\n- 2\n"), "runs/x/config.yaml", "got an array"),
    ("config.yaml a list, solve", SOLVE, _write("runs/x/config.yaml", "- 1\n"), "runs/x/config.yaml", "got an array"),
    ("config.yaml a list, resume", RESUME, _write("runs/x/config.yaml", "- 1\n- 2\n"), "runs/x/config.yaml",
     "must be a YAML mapping"),
    ("config.yaml bad YAML, eval", EVAL, _write("runs/x/config.yaml", "arch: [1,\n"), "runs/x/config.yaml",
     "invalid YAML"),
    ("config.yaml binary, eval", EVAL, _write("runs/x/config.yaml", b"\xff\xfe\xfa"), "runs/x/config.yaml",
     "not UTF-8"),
    ("config.yaml arch a string, eval", EVAL, _write("runs/x/config.yaml", "arch: x\nglobal_batch_size: 4\n"),
     "runs/x/config.yaml", "'arch' must be a mapping"),
    ("config.yaml num_heads 0, eval", EVAL, _edit("runs/x/config.yaml", "num_heads: 2", "num_heads: 0"),
     "runs/x/config.yaml", "'arch.num_heads'"),
    ("config.yaml eval_batch_size -4, eval", EVAL, _edit("runs/x/config.yaml", "eval_batch_size: null",
                                                         "eval_batch_size: -4"), "runs/x/config.yaml",
     "'eval_batch_size'"),
    ("build.json a list, eval", EVAL, _write("runs/x/build.json", "[1]"), "runs/x/build.json", "got an array"),
    ("build.json a list, solve", SOLVE, _write("runs/x/build.json", "[1]"), "runs/x/build.json", "got an array"),
    ("build.json kind a number, solve", SOLVE, _write("runs/x/build.json", '{"kind": 3}'), "runs/x/build.json",
     "'kind' must be a string"),
    ("build.json box bad, solve", SOLVE, _write("runs/x/build.json", '{"kind": "sudoku", "box": [2]}'),
     "runs/x/build.json", "'box' must be two positive integers"),
    ("run dataset.json a number, eval", EVAL, _write("runs/x/dataset.json", "3"), "runs/x/dataset.json",
     "got a number"),
    ("run dataset.json vocab a string, solve", SOLVE, _edit("runs/x/dataset.json", '"vocab_size": 6',
                                                            '"vocab_size": "6"'), "runs/x/dataset.json", "vocab_size"),
    ("eval data: float labels", EVAL,
     lambda r: np.save(r / "d/test/all__labels.npy", np.load(r / "d/test/all__labels.npy").astype(np.float32)),
     "d/test/all__labels.npy", "float32"),
    ("eval --batch-size -4", (*EVAL, "--batch-size", "-4"), None, "--batch-size", "greater than or equal to 1"),
    ("eval --batch-size 0", (*EVAL, "--batch-size", "0"), None, "--batch-size", "greater than or equal to 1"),
    ("solve an unsolvable Sudoku", ("solve", "runs/x", "--puzzle", "12........3...4."), None, "no solution",
     "givens"),
    ("solve a Sudoku repeating a given", ("solve", "runs/x", "--puzzle", "11.............."), None, "invalid",
     "repeat"),
]


@pytest.mark.parametrize("case, args, mutate, file, problem", RUN_FILES, ids=[c[0] for c in RUN_FILES])
def test_malformed_run_files_are_one_line(work, case, args, mutate, file, problem):
    if mutate:
        mutate(work)
    assert_one_line_error(run_main(*args, cwd=work), file, problem)


def test_an_eval_split_with_an_id_past_the_table_is_refused_not_a_segfault(work, run_hrm):
    """Unchecked, `hrm eval` died with SIGSEGV (exit 139): a subprocess, so a crash fails only this test."""
    ids = work / "d/test/all__puzzle_identifiers.npy"
    np.save(ids, np.load(ids) + 5)
    out = run_hrm(*EVAL, cwd=work)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr, out.stderr
    assert "d/test/all__puzzle_identifiers.npy: id 5 of puzzle 0 is outside [0, 1)" in out.stderr


def test_a_good_run_still_evaluates_and_solves(work):
    ev = run_main(*EVAL, "--json", cwd=work)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["metrics"]["count"] == 4
    assert run_main(*SOLVE, cwd=work).returncode in (0, 1)  # untrained: usually "not a solution", exit 1


SUDOKU_HEADER = b"source,q,a,rating\n"
MAZE_HEADER = b"source,question,answer,rating\n"
CSVS = [
    ("sudoku", SUDOKU_HEADER + b"x,\xff\xfe..............,1234341243212143,0\n", "bad.csv:2", "not UTF-8"),
    ("sudoku", b"\xff" + SUDOKU_HEADER, "bad.csv:1", "not UTF-8"),
    ("sudoku", bytes(range(256)) * 4, "bad.csv:1", "expected a header"),
    ("sudoku", SUDOKU_HEADER + b'x,"1.3..4.1...2...4,1234341243212143,0\n', "bad.csv:2", "got 2 fields"),
    ("sudoku", SUDOKU_HEADER + b"x,1.3..4.1...2...4,1234341243212143,zz\n", "bad.csv:2", "rating 'zz'"),
    ("sudoku", b"", "bad.csv", "the file is empty"),
    ("maze", MAZE_HEADER + b"x,\xff\xff\xff\xff,####,0\n", "bad.csv:2", "not UTF-8"),
    ("maze", MAZE_HEADER + b"x,#\x00##,####,0\n", "bad.csv:2", "not in the maze charset"),
    ("maze", bytes(range(256)) * 4, "bad.csv:2", "not UTF-8"),
    ("maze", b"", "bad.csv", "the file is empty"),
]


@pytest.mark.parametrize("kind, content, file, problem", CSVS)
def test_malformed_csvs_are_one_line(tmp_path, kind, content, file, problem):
    (tmp_path / "bad.csv").write_bytes(content)
    result = run_main("data", "build", kind, "--train-csv", "bad.csv", "--test-csv", "bad.csv", "-o", "out",
                      cwd=tmp_path)
    assert_one_line_error(result, file, problem)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, problem", [
    (b"\xff\xfe\x00", "not UTF-8"),
    (b'{"train": [', "malformed JSON"),
    (b"[1]", "needs 'train' and 'test' lists"),
])
def test_a_malformed_arc_task_file_is_one_line(tmp_path, content, problem):
    good = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]], "output": [[2]]}]}
    for sub in ("training", "evaluation"):
        (tmp_path / "src" / sub).mkdir(parents=True)
        (tmp_path / "src" / sub / "good.json").write_text(json.dumps(good))
    (tmp_path / "src" / "training" / "bad.json").write_bytes(content)
    result = run_main("data", "build", "arc", "--source-dir", "src", "--num-aug", "0", "-o", "out", cwd=tmp_path)
    assert_one_line_error(result, "src/training/bad.json", problem)


TRACES = [
    (bytes(range(256)) + b"\n", "not UTF-8"),
    (b"[1, 2]\n", "must be a JSON object, got an array"),
    (b"3\n", "got a number"),
    (b'"text"\n', "got a string"),
    (b"{not json}\n", "not a JSON event"),
    (b'{"a": 1}\n', "no 'event' name"),
    (b'{"event": "plan"}\n', "event 'plan' needs 'round'"),
    (b'{"event": "model_call", "role": "solver"}\n', "'prompt_tokens'"),
    (b'{"event": "model_call", "role": "x", "prompt_tokens": 1, "completion_tokens": 1, "latency_s": 1,'
     b' "messages": [1]}\n', "'messages' must be"),
    (b'{"event": "exec", "ok": false, "duration_s": 1}\n', "'exit_reason'"),
    (b'{"event": "run_start"}\n{"event": "code"}\n', "trace.jsonl:2"),
]


@pytest.mark.parametrize("content, problem", TRACES)
@pytest.mark.parametrize("as_json", [False, True])
def test_agent_show_refuses_a_non_trace_in_one_line(tmp_path, content, problem, as_json):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "trace.jsonl").write_bytes(content)
    result = run_main("agent", "show", "t", *(["--json"] if as_json else []), cwd=tmp_path)
    assert_one_line_error(result, "trace.jsonl", problem)


@pytest.mark.parametrize("args, option", [
    (("bench", "data", "--count", "-1"), "--count"),
    (("bench", "data", "--count", "0"), "--count"),
    (("bench", "data", "--workers", "-1"), "--workers"),
    (("bench", "train", "--steps", "0"), "--steps"),
    (("bench", "train", "--vocab", "1"), "--vocab"),
    (("data", "build", "sudoku", "--size", "4", "--subsample-size", "-1", "-o", "o"), "--subsample-size"),
    (("data", "build", "maze", "--seed", "-1", "-o", "o"), "--seed"),
])
def test_out_of_range_options_are_usage_errors(tmp_path, args, option):
    assert_one_line_error(run_main(*args, cwd=tmp_path), option, "-h')")
