"""The real `hrm` entry point (hrm_cli.main.main) run inside the test process: argv in, exit code and output out.

Starting a console script costs about a second; the error-path matrices run dozens of cases
that fail before any work, so they call main() here instead. A case that could crash the
process (a segfault) must use the subprocess fixture `run_hrm` instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_main(*args: str, cwd: Path | None = None) -> Result:
    """`hrm ARGS` through main(), as the console script runs it; SystemExit becomes the return code."""
    from hrm_cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = ["hrm", *args]
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return Result(code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """Exit code 2, exactly one line on stderr starting `error:`, no traceback, each fragment in it."""
    err = result.stderr.strip()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "\n" not in err and err.startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in err, (fragment, err)
