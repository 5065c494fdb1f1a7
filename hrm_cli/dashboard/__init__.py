"""`hrm dashboard`: a Textual app over the run directories (reading logic in runlog.py)."""

from __future__ import annotations

from hrm_cli.dashboard.app import DashboardApp

__all__ = ["DashboardApp"]
