"""Help paragraphs wrap at the terminal's width; examples keep their lines."""

from __future__ import annotations

import pytest

from hrm_cli.help_text import reflow

DOC = """Solve one puzzle.

    With --samples K the puzzle is solved as K copies (ties:
    the halting head's confidence). With --verify only a
    verified candidate is given.

    - a list item that
      goes on
    - another item

    Examples:
      hrm solve runs/demo --puzzle '1..4'
      hrm solve runs/maze --file maze.txt
    """


def test_reflow_joins_prose_and_keeps_examples_and_items():
    paras = reflow(DOC).split("\n\n")
    assert paras[1] == ("With --samples K the puzzle is solved as K copies (ties: the halting head's confidence). "
                        "With --verify only a verified candidate is given.")
    assert paras[2].split("\n") == ["- a list item that", "  goes on", "- another item"]
    assert paras[3].split("\n") == ["Examples:", "  hrm solve runs/demo --puzzle '1..4'",
                                    "  hrm solve runs/maze --file maze.txt"]


@pytest.mark.parametrize("width", [60, 160])
def test_help_fills_the_terminal_width(run_hrm, width):
    out = run_hrm("solve", "--help", env={"COLUMNS": str(width)})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "With --samples K" in line)
    para = []
    for line in lines[start:]:
        if not line.strip():
            break
        para.append(line.rstrip())
    # every line but the last is filled to near the width: no break where the source had one
    assert len(para) >= 2 if width == 60 else len(para) >= 1
    assert all(len(line) > width - 16 for line in para[:-1]), para
    assert "(ties: the halting" in " ".join(para)
    assert "  hrm solve runs/maze --file maze.txt" in out.stdout  # examples keep their lines
