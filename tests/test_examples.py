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


def test_embed_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embed.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "issued VARA/NOC/2026/0001 at log index 1"
    assert lines[1] == "bank: Example Exchange FZE may register for AML: valid"
    assert lines[2].startswith("bank: operate a fiat exchange? out of scope")
    assert lines[3].startswith("bank: revoked (revoked (false-information)")


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def test_readme_embed_excerpt_is_taken_from_the_example() -> None:
    """The README's "Embed the library" code must not drift from the tested program: each
    of its lines appears in examples/embed.py (indentation aside)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = _section(readme, "## Embed the library")
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    program = {line.strip() for line in (ROOT / "examples" / "embed.py").read_text().splitlines()}
    missing = [line for line in block.splitlines() if line.strip() and line.strip() not in program]
    assert not missing, f"README lines not in examples/embed.py: {missing}"


def test_readme_quick_start_is_install_and_demo_then_tests() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = _section(readme, "## Quick start").split("```sh\n", 1)[1].split("```", 1)[0]
    assert block.splitlines() == [
        "python3 -m pip install . && noc-ledger demo",
        "python3 -m pip install '.[test]' && python3 -m pytest",
    ]
