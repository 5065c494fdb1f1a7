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
    from hrm_engine.run.checkpoint import mark_best, save_checkpoint
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


# --- arrays, splits and names under `hrm data show/stats` and `hrm train` ----------------------------------------

def _truncate(relpath, keep):
    def mutate(root):
        path = root / relpath
        path.write_bytes(path.read_bytes()[:keep])
    return mutate


TRAIN = ("train", "d", *ARCH, "global_batch_size=4", "max_steps=1", "eval_interval=null", "compile=false",
         "--run-name", "t")
SHOW, STATS = ("data", "show", "d"), ("data", "stats", "d")
ARRAYS = [
    ("empty inputs, show", SHOW, _write("d/train/all__inputs.npy", b""), "d/train/all__inputs.npy", "the file is empty"),
    ("empty inputs, stats", STATS, _write("d/train/all__inputs.npy", b""), "d/train/all__inputs.npy",
     "the file is empty"),
    ("empty inputs, train", TRAIN, _write("d/train/all__inputs.npy", b""), "d/train/all__inputs.npy",
     "the file is empty"),
    ("empty puzzle_indices, train", TRAIN, _write("d/train/all__puzzle_indices.npy", b""),
     "d/train/all__puzzle_indices.npy", "the file is empty"),
    ("empty test labels, eval", EVAL, _write("d/test/all__labels.npy", b""), "d/test/all__labels.npy",
     "the file is empty"),
    ("inputs cut inside the magic, show", SHOW, _truncate("d/train/all__inputs.npy", 7), "d/train/all__inputs.npy",
     "truncated"),
    ("inputs cut before the magic, show", SHOW, _truncate("d/train/all__inputs.npy", 5), "d/train/all__inputs.npy",
     "not a NumPy .npy array"),
    ("inputs cut inside the header, stats", STATS, _truncate("d/train/all__inputs.npy", 90), "d/train/all__inputs.npy",
     "truncated"),
    ("labels cut inside the data (memory-mapped), train", TRAIN, _truncate("d/train/all__labels.npy", -3),
     "d/train/all__labels.npy", "truncated"),
    ("group_indices cut inside the data (read), stats", STATS, _truncate("d/train/all__group_indices.npy", -2),
     "d/train/all__group_indices.npy", "truncated"),
    # the test split is read and checked by `data stats` as `train` and `eval` read it
    ("test split missing, stats", STATS, lambda r: shutil.rmtree(r / "d/test"), "d/test/dataset.json",
     "has no split 'test'"),
    ("test labels empty, stats", STATS, _write("d/test/all__labels.npy", b""), "d/test/all__labels.npy",
     "the file is empty"),
    ("test labels truncated, stats", STATS, _truncate("d/test/all__labels.npy", -5), "d/test/all__labels.npy",
     "truncated"),
    ("test dataset.json truncated, stats", STATS, _truncate("d/test/dataset.json", 20), "d/test/dataset.json",
     "malformed JSON"),
    ("test labels past the vocabulary, stats", STATS,
     lambda r: np.save(r / "d/test/all__labels.npy", np.load(r / "d/test/all__labels.npy") + 9),
     "d/test/all__labels.npy", "outside the vocabulary"),
    ("test split of another vocabulary, stats", STATS, _edit("d/test/dataset.json", '"vocab_size": 6',
                                                             '"vocab_size": 7'), "d/test/dataset.json", "vocab_size=7"),
    ("identifiers.json garbage, stats", STATS, _write("d/identifiers.json", "[\"<bl"), "d/identifiers.json",
     "malformed JSON"),
    ("identifiers.json an object, stats", STATS, _write("d/identifiers.json", '{"a": 1}'), "d/identifiers.json",
     "got an object"),
    ("identifiers.json a number entry, stats", STATS, _write("d/identifiers.json", '["<blank>", 3]'),
     "d/identifiers.json", "entry 1 must be a puzzle name"),
    ("identifiers.json too short, stats", STATS, _write("d/identifiers.json", "[]"), "d/identifiers.json",
     "0 names for 1 puzzle identifiers"),
    ("identifiers.json too short, show", SHOW, _write("d/identifiers.json", "[]"), "d/identifiers.json",
     "0 names for 1 puzzle identifiers"),
    ("build.json stats.train a number, stats", STATS, _write("d/build.json", '{"kind": "sudoku", "stats": {"train": 3}}'),
     "d/build.json", "'stats.train' must be an object"),
]


@pytest.mark.parametrize("case, args, mutate, file, problem", ARRAYS, ids=[c[0] for c in ARRAYS])
def test_damaged_arrays_splits_and_names_are_one_line(work, case, args, mutate, file, problem):
    mutate(work)
    assert_one_line_error(run_main(*args, cwd=work), file, problem)
    assert not (work / "runs" / "t" / "checkpoints").exists()  # train refused before any step


def test_stats_reports_both_splits_and_the_names_and_states_a_missing_names_file(work):
    good = run_main(*STATS, "--json", cwd=work)
    assert good.returncode == 0 and good.stderr == "", good.stderr
    result = json.loads(good.stdout)
    assert set(result["splits"]) == {"train", "test"} and result["puzzle_names"] == 1
    assert result["splits"]["test"]["examples"] == 4
    (work / "d/identifiers.json").unlink()
    bare = run_main(*STATS, "--json", cwd=work)
    assert bare.returncode == 0 and json.loads(bare.stdout)["puzzle_names"] is None
    assert bare.stderr.strip() == "warning: d has no identifiers.json: puzzles are known by number only " \
                                  "(`hrm data build` writes one)"


# --- a best.json naming a checkpoint that is gone ---------------------------------------------------------------

@pytest.mark.parametrize("args", [(*EVAL, "--json"), (*SOLVE, "--json")], ids=["eval", "solve"])
def test_a_best_json_naming_a_missing_checkpoint_announces_the_fallback(work, args):
    (work / BEST).write_text('{"checkpoint": "step_0000009", "exact_accuracy": 0.9}')
    result = run_main(*args, cwd=work)
    assert result.returncode in (0, 1), result.stderr  # solve: an untrained model's answer is usually wrong (1)
    assert result.stderr.strip() == (f"warning: {BEST} names step_0000009, which is missing; using the latest "
                                     f"checkpoint step_0000002 instead")
    assert json.loads(result.stdout)["checkpoint" if args[0] == "eval" else "checkpoint"].endswith(CKPT)
    (work / BEST).write_text('{"checkpoint": "step_0000002", "exact_accuracy": 0.0}')
    assert "warning" not in run_main(*args, cwd=work).stderr  # the best checkpoint present: nothing to announce


# --- puzzle cells: ASCII digits and '.' only -------------------------------------------------------------------

def test_solve_refuses_non_ascii_digits_naming_the_character_and_where(work):
    arabic = run_main("solve", "runs/x", "--puzzle", "\u0661\u0662\u0663\u0664" + "." * 12, cwd=work)
    assert_one_line_error(arabic, "--puzzle: character '\u0661' (U+0661) at position 1 is not a Sudoku cell")
    superscript = run_main("solve", "runs/x", "--puzzle", "\u00b2" + "." * 15, cwd=work)
    assert_one_line_error(superscript, "--puzzle: character '\u00b2' (U+00B2) at position 1 is not a Sudoku cell")
    (work / "p.txt").write_text("1 . | . 4\n. 3 | . .\n---------\n. 1 | \u0969 .\n2 . | . 3\n")
    drawn = run_main("solve", "runs/x", "--file", "p.txt", cwd=work)
    assert_one_line_error(drawn, "p.txt: character '\u0969' (U+0969) at line 4, column 7")
    escape = run_main("solve", "runs/x", "--puzzle", "1..4\x1b[2K" + ".3...1..2..3", cwd=work)
    assert_one_line_error(escape, r"character '\x1b' (U+001B) at position 5")
    assert "\x1b" not in escape.stderr  # named, never echoed raw to the terminal
    (work / "bin.txt").write_bytes(b"\xff\xfe1..4")
    assert_one_line_error(run_main("solve", "runs/x", "--file", "bin.txt", cwd=work), "bin.txt: not UTF-8")


def test_solve_still_reads_a_drawn_grid_with_separators(work):
    (work / "p.txt").write_text("1 . | . 4\n. 3 | . .\n------+------\n. 1 | . .\n2 . | . 3\n")
    result = run_main("solve", "runs/x", "--file", "p.txt", "--json", cwd=work)
    assert result.returncode in (0, 1), result.stderr
    assert json.loads(result.stdout)["solutions"][0]["inputs"][:4] == [2, 1, 1, 5]  # digit + 1, 1 = blank


@pytest.mark.parametrize("cell, shown", [('"\\u0661"', '"\\u0661"'), ('"1"', '"1"'), ("1.0", "1.0"),
                                         ("true", "true"), ("1e400", "Infinity"),
                                         ("100000000000000000000000000000", "100000000000000000000...")])
def test_arc_cells_are_json_integers_only(tmp_path, cell, shown):
    """numpy read the string "\u0661" and 1.7 as 1 and raised OverflowError on a huge integer."""
    task = '{"train": [{"input": [[%s]], "output": [[1]]}], "test": [{"input": [[1]], "output": [[2]]}]}' % cell
    for sub in ("training", "evaluation"):
        (tmp_path / "src" / sub).mkdir(parents=True)
        (tmp_path / "src" / sub / "t.json").write_text(task)
    result = run_main("data", "build", "arc", "--source-dir", "src", "--num-aug", "0", "-o", "out", cwd=tmp_path)
    assert_one_line_error(result, f"cell {shown} at row 0, column 0 is not a colour; cells are the integers 0..9")


# --- more files and values: YAML that is not text, options that cannot be honoured ------------------------------

@pytest.mark.parametrize("args, file, problem", [
    (("config", "show", "bin.yaml"), "bin.yaml", "not UTF-8"),
    (("config", "show", "hrm-tiny", "--file", "bin.yaml"), "bin.yaml", "not UTF-8"),
    (("train", "d", "--config", "bin.yaml"), "bin.yaml", "not UTF-8"),
    (("agent", "bench", "--suite", "bin.yaml"), "bin.yaml", "not UTF-8"),
    (("data", "build", "sudoku", "--test-csv", "x.csv", "-o", "o"), "x.csv", "does not exist"),  # alone: a test split
    (("data", "build", "maze", "--test-csv", "x.csv", "-o", "o"), "--test-csv x.csv", "needs --train-csv"),
    ((*SOLVE, "--samples", "100000000000"), "--samples", "between 1 and 1024"),
    ((*EVAL, "--samples", "2000"), "--samples", "between 1 and 1024"),
])
def test_more_bad_files_and_values_are_one_line(work, args, file, problem):
    (work / "bin.yaml").write_bytes(b"\xff\xfe\x00name: x\n")
    assert_one_line_error(run_main(*args, cwd=work), file, problem)
    assert not (work / "o").exists()


@pytest.mark.parametrize("name, content", [("run.json", b"[1]"), ("run.json", b"\xff\xfe"),
                                           ("metrics.jsonl", b'{"step": 1}\n\xff\xfe\n[1\n')],
                         ids=["run.json a list", "run.json binary", "metrics.jsonl binary"])
def test_resume_rewrites_a_damaged_status_file(work, name, content):
    """run.json and metrics.jsonl are hrm's own status files: a damaged one is rewritten, not a traceback."""
    first = run_main(*TRAIN[:-2], "max_steps=2", "checkpoint_interval=1", "--run-name", "r", cwd=work)
    assert first.returncode == 0, first.stderr
    (work / "runs/r" / name).write_bytes(content)
    resumed = run_main("train", "d", "--resume", "runs/r", "max_steps=3", cwd=work)
    assert resumed.returncode == 0 and "Traceback" not in resumed.stderr, resumed.stderr
    assert json.loads((work / "runs/r/run.json").read_text())["status"] == "finished"
    steps = [json.loads(line).get("step") for line in (work / "runs/r/metrics.jsonl").read_text().splitlines()]
    assert 3 in steps
