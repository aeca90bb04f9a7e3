"""`noc-ledger demo`: the story runs, reaches the expected verdict at every step, and leaves
files that the `verify` command checks the same way."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from noc_ledger.cli import main
from noc_ledger.cli.common import EXIT
from noc_ledger.cli.demo import BINANCE_LEI, EXPECTED_VERDICTS, HTX_LEI, lei_with_check_digits
from noc_ledger.model import check_lei

ROOT = Path(__file__).resolve().parent.parent
STEP_VERDICTS = [
    "valid",
    "out-of-scope",
    "valid",
    "superseded",
    "suspended",
    "revoked",
    "stale",
    "invalid",
]


def run(argv: Sequence[str | Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("demo") / "story"
    # Module-scoped: capture by hand rather than with capsys.
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["demo", str(directory), "--json"])
    assert status == 0
    summary: dict[str, Any] = json.loads(buffer.getvalue())
    return summary


def test_the_story_reaches_each_expected_verdict(demo: dict[str, Any]) -> None:
    assert list(EXPECTED_VERDICTS) == STEP_VERDICTS
    assert [s["verdict"] for s in demo["steps"]] == STEP_VERDICTS
    assert demo["verdicts"] == STEP_VERDICTS and demo["ok"] is True
    assert [s["exit"] for s in demo["steps"]] == [EXIT[v] for v in STEP_VERDICTS]
    assert [s["step"] for s in demo["steps"]] == list(range(1, 9))
    assert demo["simulated_times"] is True and demo["keys_unencrypted"] is True
    assert demo["seconds"] < 30


def test_the_story_says_why(demo: dict[str, Any]) -> None:
    steps = demo["steps"]
    assert steps[0]["query"]["activity"] == "prep.aml_registration"
    assert steps[1]["query"]["activity"] == "va.exchange.fiat"
    # The same question that was out of scope on the NOC passes on the licence.
    assert steps[2]["query"] == steps[1]["query"]
    assert steps[3]["details"]["successor"] == steps[2]["cert_id"]
    assert steps[4]["details"]["reason"] == "aml-cft-failure"
    assert steps[5]["details"]["reason"] == "false-information"
    assert steps[5]["details"]["since"] < steps[5]["at"]
    assert steps[6]["details"]["checkpoint"]["age"] > steps[6]["details"]["max_status_age"]
    assert steps[7]["cert_id"] is None  # never authenticated


def test_files_verify_with_the_cli(
    demo: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = Path(demo["directory"])
    assert Path(demo["trust_policy"]).is_file() and Path(demo["database"]).is_file()
    for name in (
        "binance-noc.bundle",
        "binance-licence.bundle",
        "binance-noc-refreshed.bundle",
        "htx-noc-suspended.bundle",
        "htx-noc-revoked.bundle",
        "tampered.bundle",
        "keys/binance-holder.pem",
    ):
        assert (directory / name).is_file(), name
    for step in demo["steps"]:
        # The printed command and the recorded argv are the same command.
        assert shlex.split(step["command"])[1:] == step["argv"]
        status, out, _ = run([*step["argv"], "--json"], capsys)
        assert status == step["exit"], step["command"]
        assert json.loads(out)["verdict"] == step["verdict"]


def test_presentation_commands_work(
    demo: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    present, check = demo["presentation_commands"]
    assert run(shlex.split(present)[1:], capsys)[0] == 0
    status, out, _ = run([*shlex.split(check)[1:], "--json"], capsys)
    assert status == 0 and json.loads(out)["presentation"]["audience"] == "bank.example"


def test_human_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["demo", tmp_path / "d"], capsys)
    assert status == 0 and err == ""
    for text in (
        "SIMULATED",
        "UNENCRYPTED",
        "demo only",
        "Binance FZE",
        "HTX Middle East FZE",
        "not constitute a full operating licence",
        "VALID —",
        "OUT-OF-SCOPE —",
        "SUPERSEDED —",
        "SUSPENDED —",
        "REVOKED —",
        "STALE —",
        "INVALID —",
        "noc-ledger verify ",
        str(tmp_path / "d"),
    ):
        assert text in out, text
    assert "!! expected" not in out


def test_default_directory_is_new_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    status, out, _ = run(["demo", "--json"], capsys)
    directory = Path(json.loads(out)["directory"])
    assert status == 0 and directory.parent == tmp_path
    assert (directory / "trust.policy").is_file()


def test_refuses_a_non_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    status, out, err = run(["demo", tmp_path], capsys)
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1 and "not empty" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_fictional_leis_pass_mod_97_10() -> None:
    for lei in (BINANCE_LEI, HTX_LEI, lei_with_check_digits("529900T8BM49AURSDO")):
        check_lei(lei)
    assert lei_with_check_digits("529900T8BM49AURSDO") == "529900T8BM49AURSDO55"


def test_python_m_noc_ledger_demo(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "noc_ledger", "demo", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "REVOKED —" in result.stdout and "Done in" in result.stdout
    assert result.stderr == ""


def test_the_demo_directory_is_a_ledger_directory(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commands the demo suggests at its end work on its directory: the log can be
    listed, published as tiles, audited against the demo's trust policy, and registered."""
    directory = Path(demo["directory"])
    status, out, _ = run(["log", directory, "--json"], capsys)
    assert status == 0
    entries = json.loads(out)["entries"]
    assert [e["kind"] for e in entries] == [
        "key-event",
        "certificate",
        "certificate",
        "certificate",
        "status-event",
        "status-event",
    ]
    tiles = tmp_path / "tiles"
    assert run(["tiles", directory, tiles, "--json"], capsys)[0] == 0
    status, out, err = run(
        ["audit", tiles, "--trust", directory / "trust.policy", "--json"], capsys
    )
    assert status == 0, err
    assert json.loads(out)["size"] == len(entries)
    site = tmp_path / "site"
    status, out, err = run(
        ["register", directory, "-o", site, "--at", "2026-04-15T12:00:00Z", "--json"], capsys
    )
    assert status == 0, err
    assert "HTX Middle East FZE" in (site / "index.html").read_text(encoding="utf-8")
