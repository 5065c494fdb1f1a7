"""datasets/puzzle_list.py: telling a plain puzzle list from the reference CSV, and reading its lines."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_datasets.errors import DatasetError
from hrm_datasets.puzzle_list import is_puzzle_list, list_puzzles

# A 4x4 puzzle with a unique solution, and that solution (rows 1234 / 3412 / 2143 / 4321).
Q4 = "......12.1.3.32."
A4 = "1234341221434321"


def _file(tmp_path, text: str, name: str = "p.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, listed", [
    (f"{Q4}\n", True),
    (f"\n# a comment\n  {Q4}  \n", True),
    (f"quizzes,solutions\n{Q4},{A4}\n", True),
    (f"source,q,a,rating\nx,{Q4},{A4},0\n", False),
    ("a,b\n1,2\n", False),
    ("12345\n", True),  # made of cells: a list, whose line is then refused for its length
])
def test_the_layout_is_told_by_the_first_puzzle_line(tmp_path, text, listed):
    assert is_puzzle_list(_file(tmp_path, text)) is listed


def test_blanks_notes_comments_and_a_solution_column(tmp_path):
    text = (f"puzzle solution\n# published list\n\n{Q4}\n  {Q4.replace('.', '0')}   rated 1.5\n"
            f"{Q4},{A4}\n{Q4};{A4} # checked\n{Q4}\t12\n")
    items = list(list_puzzles(_file(tmp_path, text)))
    assert [i.line for i in items] == [4, 5, 6, 7, 8]
    want = np.array([0 if c == "." else int(c) for c in Q4], np.uint8)
    for item in items:
        assert item.size == 4 and item.puzzle.dtype == np.uint8 and np.array_equal(item.puzzle, want)
    solutions = [i.solution for i in items]
    assert solutions[0] is None and solutions[1] is None and solutions[4] is None  # "rated 1.5", "12" are notes
    assert np.array_equal(solutions[2], np.array([int(c) for c in A4])) and np.array_equal(solutions[3], solutions[2])


@pytest.mark.parametrize("text, fragments", [
    ("", ["p.txt: the file is empty", "one puzzle a line"]),
    ("\n# only a comment\n\n", ["p.txt: only blank and comment lines"]),
    (f"{Q4}\n{Q4[:-1]}\n", ["p.txt:2:", "has 15 cells, not 81"]),
    (f"{Q4}\n  1.3..4.1x..2...4\n", ["p.txt:2:", "character 'x' at column 11"]),
    (f"{Q4}\n{Q4[:-1]}5\n", ["p.txt:2:", "digit 5 at column 16 is out of range 1..4"]),
    (f"{Q4}\n{'.' * 81}\n", ["p.txt:2:", "a 9x9 puzzle in a list of 4x4 puzzles (line 1)"]),
    (f"{Q4},{A4[:-1]}\n", ["p.txt:1:", "the solution column has 15 cells"]),
    (f"{Q4} {A4[:8]}\n", ["p.txt:1:", "the solution column has 8 cells"]),  # half a puzzle's length: not a note
    (f"{Q4},{A4[:-1]}.\n", ["p.txt:1:", "must be a complete 4x4 grid"]),
    (f"{Q4}\npuzzle\n", ["p.txt:2:", "character 'p' at column 1"]),  # a header only on the first line
])
def test_bad_lines_name_the_file_line_and_column(tmp_path, text, fragments):
    path = _file(tmp_path, text)
    with pytest.raises(DatasetError) as caught:
        is_puzzle_list(path)
        list(list_puzzles(path))
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
