"""`hrm_solve(grid)` inside the sandbox: the agent hands puzzle subgoals to a trained HRM.

The preamble runs in the sandboxed child before the model's code; it loads the checkpoint through
the engine (the child has the same interpreter and packages) and defines `hrm_solve`.
"""

from __future__ import annotations

from pathlib import Path

from hrm_agent.errors import AgentError

HELP = ("hrm_solve(grid): solve a Sudoku (list of rows, 0 = blank), a maze (list of strings: '#', ' ', 'S', 'G') "
        "or an ARC task dict with the trained HRM; returns the solution in the same shape.")


def preamble(checkpoint: str | Path) -> str:
    """Python source defining `hrm_solve` for the checkpoint (a run directory or checkpoint folder)."""
    path = Path(checkpoint).resolve()
    if not path.exists():
        raise AgentError(f"--hrm-checkpoint {checkpoint} does not exist; pass a runs/<name> directory from hrm train")
    return f'''
def _hrm_load():
    # Everything is imported and loaded here, before the sandbox's file guard is installed.
    import hrm_engine.cpu
    hrm_engine.cpu.setup()
    import hrm_datasets.arc, hrm_datasets.render, hrm_datasets.sudoku, hrm_engine.solving.arc_solve  # noqa: F401
    from hrm_engine.run.checkpoint import load_checkpoint
    from hrm_engine.solve import solve_grid
    return load_checkpoint({str(path)!r}), solve_grid

_HRM_CHECKPOINT, _hrm_solve_grid = _hrm_load()

def hrm_solve(grid):
    """{HELP}"""
    return _hrm_solve_grid(_HRM_CHECKPOINT, grid)
'''
