"""Shared test helpers: sample certificates built from fixed keys and times."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# tools/ (the vector generator) is imported by the vector tests.
sys.path.insert(0, str(ROOT))

# Hypothesis's per-example deadline is a timing assertion: on a loaded 2-core machine a
# pure-Python example (the reference Ed25519 above all) can take 0.3 s and fail a test that
# found no bug. Speed is measured in bench/, so no example has a deadline here.
from hypothesis import settings  # noqa: E402

settings.register_profile("noc-ledger", deadline=None)
settings.load_profile("noc-ledger")

# The throwaway PostgreSQL server and per-test databases (tests/postgres_server.py).
from tests.postgres_server import postgres_dsn, postgres_server  # noqa: E402, F401
