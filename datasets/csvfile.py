"""Rows of a user's CSV file (the reference's Sudoku and Maze layouts), every reading problem one line.

The file is decoded line by line, so a byte that is not UTF-8 is reported with its line number
(and a multi-GB CSV is never held in memory); a NUL byte or a broken quote is a DatasetError too.
`text_lines` gives the same lines to readers of other line layouts (plain Sudoku puzzle lists).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from hrm_datasets.errors import DatasetError


def _lines(handle, path: Path) -> Iterator[str]:
    for lineno, raw in enumerate(handle, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}:{lineno}: not UTF-8 text (byte {exc.start + 1} of the line); save the CSV "
                               f"as UTF-8") from None
        yield text.lstrip("\ufeff") if lineno == 1 else text


def _open(path: Path, what: str):
    if not path.is_file():
        raise DatasetError(f"{what} {path} does not exist")
    try:
        return open(path, "rb")  # noqa: SIM115 - the callers close it, also when their caller stops early
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None


def text_lines(path: Path, what: str = "file") -> Iterator[tuple[int, str]]:
    """(line number, text) of every line, decoded as UTF-8; a missing or unreadable file is one line."""
    with _open(path, what) as handle:
        try:
            yield from enumerate(_lines(handle, path), 1)
        except OSError as exc:
            raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None


def csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every row, the header included; a missing or unreadable file is one line."""
    with _open(path, "CSV file") as handle:
        reader = csv.reader(_lines(handle, path))
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DatasetError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None
            except OSError as exc:
                raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
            yield reader.line_num, fields
