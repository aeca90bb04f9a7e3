"""The README's first command runs the quick-start example: it must keep working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "may prep.aml_registration for retail customers in AE? True" in out
    assert "may va.exchange.fiat for retail customers in AE? False" in out
    assert "does not constitute a full operating licence" in out
    assert "a tampered copy is rejected" in out
