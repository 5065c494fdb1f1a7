"""Paths every test module may need (a uniquely named module: several conftest.py files exist)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HRM = str(Path(sys.executable).with_name("hrm"))
