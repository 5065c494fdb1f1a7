"""Rows of a user's CSV file (the reference's Sudoku and Maze layouts), every reading problem one line.

The file is decoded line by line, so a byte that is not UTF-8 is reported with its line number
(and a multi-GB CSV is never held in memory); a NUL byte or a broken quote is a DatasetError too.
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


def csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every row, the header included; a missing or unreadable file is one line."""
    if not path.is_file():
        raise DatasetError(f"CSV file {path} does not exist")
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, also when the caller stops early
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
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
