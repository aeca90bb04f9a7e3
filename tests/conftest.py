"""Shared test helpers: sample certificates built from fixed keys and times."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# tools/ (the vector generator) is imported by the vector tests.
sys.path.insert(0, str(ROOT))

# The throwaway PostgreSQL server and per-test databases (tests/postgres_server.py).
from tests.postgres_server import postgres_dsn, postgres_server  # noqa: E402, F401
