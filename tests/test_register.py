"""The public register (noc_ledger.publish.register, docs/register.md).

A ledger tells the seed story — a virtual-assets authority issues NOCs to two exchanges,
upgrades one to a licence (the NOC is superseded) and suspends then revokes the other — plus
a firm whose legal name is an HTML injection attempt. The register built from it is checked
as files (escaping, determinism, atomic swap, every certificate listed) and as a person sees
it in headless Chromium: the visible text, links that resolve, the search box filtering
rows, no injected script running, and bundles downloaded through the page's links verifying
offline against the page's trust file with the verdict the page shows.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import html
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import merkle, signing
from noc_ledger.cli import main
from noc_ledger.cli.demo import lei_with_check_digits
from noc_ledger.errors import (
    ModelError,
    NocLedgerError,
    OutOfRangeError,
    PolicyError,
    StorageError,
)
from noc_ledger.events import KeyEvent, KeyEventKind, ReasonCode, StatusEvent, StatusEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.ledger.sqlite import SqliteStore
from noc_ledger.ledger.store import Reader, Store
from noc_ledger.logstate import Authority
from noc_ledger.model import (
    NOC_DISCLAIMER_CODE,
    NOC_DISCLAIMER_TEXT,
    Certificate,
    Edge,
    EdgeKind,
    Instrument,
    Issuer,
    LegalNotice,
    Subject,
)
from noc_ledger.policy import parse_policy
from noc_ledger.publish import build_register
from noc_ledger.publish.register import RegisterReport, _TreeRoot
from noc_ledger.scope import Grant, Limit, Scope, Territory
from noc_ledger.verify import Verdict, explain_bundle

# ---------------------------------------------------------------------------------------
# The story (fixed keys and a simulated clock: the same ledger every run)

START = 1_767_603_600  # 2026-01-05T09:00:00Z
HOUR = 3_600
DAY = 86_400
ROOT = signing.Ed25519Signer(hashlib.sha256(b"register: root").digest())
ISSUER = signing.Ed25519Signer(hashlib.sha256(b"register: issuer").digest())
LOG = signing.Ed25519Signer(hashlib.sha256(b"register: log").digest())
ORIGIN = "vara.example/register-test"
HERE = Territory(("AE-DU",))
ALL = ("institutional", "professional", "retail")
ROOT_SCOPE = Scope((Grant("prep", ALL, Territory(("AE",))), Grant("va", ALL, Territory(("AE",)))))
AUTHORITY = Issuer("Virtual Assets Regulatory Authority (test)", "AE-DU")
FALCON = "Falcon Exchange FZE"
HARBOUR = "Harbour Digital Assets FZE"
EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> & Co'
FALCON_LEI = lei_with_check_digits("9845TESTFALCONFZE0")
HARBOUR_LEI = lei_with_check_digits("9845TESTHARBOURFZE")
EVIL_LEI = lei_with_check_digits("9845TESTEVILCO0000")
LICENCE_AT = START + 60 * DAY
SUSPEND_AT = START + 90 * DAY
REVOKE_AT = START + 100 * DAY
AT = REVOKE_AT + HOUR  # the register's "as at": every event has happened
TITLE = "Register of virtual-asset firms (test)"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now


def _noc(number: str, name: str, lei: str, at: int) -> Certificate:
    return Certificate(
        instrument=Instrument.NOC,
        number=number,
        issuer=AUTHORITY,
        subject=Subject(legal_name=name, lei=lei),
        issued_at=at,
        valid_from=at,
        valid_until=at + 365 * DAY,
        scope=Scope(
            (
                Grant("prep.aml_registration", ALL, HERE),
                Grant("prep.local_incorporation", ALL, HERE),
            )
        ),
        conditions=("Apply for an operating licence within 180 days.",),
        legal_notices=(LegalNotice(NOC_DISCLAIMER_CODE, NOC_DISCLAIMER_TEXT),),
    )


@dataclasses.dataclass
class Story:
    ledger: Ledger
    falcon_noc: Certificate
    licence: Certificate
    harbour_noc: Certificate
    evil_noc: Certificate

    def ids(self) -> dict[str, str]:
        return {
            "falcon_noc": self.falcon_noc.id.hex(),
            "licence": self.licence.id.hex(),
            "harbour_noc": self.harbour_noc.id.hex(),
            "evil_noc": self.evil_noc.id.hex(),
        }


def tell_story(ledger: Ledger, clock: Clock) -> Story:
    """The seed story, as in `noc-ledger demo`, on ``ledger``."""
    delegation = KeyEvent(
        KeyEventKind.DELEGATE,
        ISSUER.public_key,
        START,
        START,
        "issuing key 2026",
        START + 5 * 365 * DAY,
        ROOT_SCOPE,
    )
    ledger.record_key_event(delegation, ROOT)
    clock.now = START + HOUR
    falcon = _noc("VARA/NOC/2026/0001", FALCON, FALCON_LEI, clock.now)
    harbour = _noc("VARA/NOC/2026/0002", HARBOUR, HARBOUR_LEI, clock.now)
    evil = _noc("VARA/NOC/2026/0003", EVIL, EVIL_LEI, clock.now)
    ledger.issue_batch([falcon, harbour, evil], ISSUER)
    clock.now = LICENCE_AT
    licence = Certificate(
        instrument=Instrument.LICENCE,
        number="VARA/LIC/2026/0001",
        issuer=AUTHORITY,
        subject=falcon.subject,
        issued_at=LICENCE_AT,
        valid_from=LICENCE_AT,
        valid_until=LICENCE_AT + 365 * DAY,
        scope=Scope(
            (
                Grant(
                    "va.exchange",
                    ("retail",),
                    HERE,
                    limits=(Limit("per_transaction", "AED", 1_000_000),),
                ),
            )
        ),
        conditions=("Report client-money reconciliations to the authority every month.",),
        edges=(Edge(EdgeKind.UPGRADES, falcon.id),),
    )
    ledger.issue(licence, ISSUER)
    clock.now = SUSPEND_AT
    ledger.record(
        StatusEvent(
            StatusEventKind.SUSPEND,
            harbour.id,
            SUSPEND_AT,
            SUSPEND_AT,
            ReasonCode.AML_CFT_FAILURE,
            "Suspended pending an AML/CFT inspection.",
        ),
        ISSUER,
    )
    clock.now = REVOKE_AT
    ledger.record(
        StatusEvent(
            StatusEventKind.REVOKE,
            harbour.id,
            REVOKE_AT,
            REVOKE_AT,
            ReasonCode.FALSE_INFORMATION,
            "The application contained false information.",
        ),
        ISSUER,
    )
    return Story(ledger, falcon, licence, harbour, evil)


def new_story(store: Store) -> Story:
    clock = Clock()
    ledger = Ledger(
        store,
        origin=ORIGIN,
        authority=Authority(ROOT.public_key, ROOT_SCOPE),
        log_signer=LOG,
        clock=clock,
    )
    return tell_story(ledger, clock)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    store = SqliteStore(tmp_path_factory.mktemp("ledger") / "ledger.db")
    try:
        yield new_story(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def site(story: Story, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RegisterReport]:
    out = tmp_path_factory.mktemp("public") / "register"
    report = build_register(story.ledger, out, title=TITLE, at=AT)
    return out, report


def _text(html_bytes: bytes) -> str:
    """Rough visible text of a page (tags dropped, entities decoded) for non-browser tests."""
    body = html_bytes.decode("utf-8")
    body = re.sub(r"<(script|style)>.*?</\1>", " ", body, flags=re.S)
    # Tags become nothing (inline) and runs of white space one space, roughly as rendered.
    text = html.unescape(re.sub(r"<[^>]+>", "", body))
    return re.sub(r"\s+", " ", text)


# ---------------------------------------------------------------------------------------
# Files


def test_every_certificate_is_listed_with_page_and_bundle(
    story: Story, site: tuple[Path, RegisterReport]
) -> None:
    out, report = site
    assert report.certificates == 4
    assert report.size == story.ledger.size()
    index = (out / "index.html").read_bytes()
    for cert_id in story.ids().values():
        assert f'href="cert/{cert_id}.html"'.encode() in index
        assert (out / "cert" / f"{cert_id}.html").is_file()
        assert (out / "bundles" / f"{cert_id}.cbor").is_file()
    text = _text(index)
    for name in (FALCON, HARBOUR, EVIL, FALCON_LEI, HARBOUR_LEI, "VARA/LIC/2026/0001"):
        assert name in text
    assert parse_policy((out / "trust.txt").read_bytes()).logs[ORIGIN].public_key == (
        LOG.public_key
    )
    assert (out / "checkpoint.txt").read_bytes() == story.ledger.checkpoint_at(report.size)


def test_statuses_and_history_in_words(story: Story, site: tuple[Path, RegisterReport]) -> None:
    out, report = site
    ids = story.ids()
    assert report.verdicts == {
        ids["falcon_noc"]: "superseded",
        ids["licence"]: "valid",
        ids["harbour_noc"]: "revoked",
        ids["evil_noc"]: "valid",
    }
    harbour = _text((out / "cert" / f"{ids['harbour_noc']}.html").read_bytes())
    assert "Revoked since 15 April 2026, 09:00 UTC — reason: false or misleading" in harbour
    assert "Suspended pending an AML/CFT inspection." in harbour
    assert "The application contained false information." in harbour
    assert "does not constitute a full operating licence" in harbour
    assert "not an operating licence" in harbour
    assert "Operating virtual-asset activities" in harbour  # what it does not permit
    noc_page = (out / "cert" / f"{ids['falcon_noc']}.html").read_bytes()
    assert f'href="{ids["licence"]}.html"'.encode() in noc_page
    assert "Superseded since 6 March 2026, 09:00 UTC — replaced by Licence" in _text(noc_page)
    licence = _text((out / "cert" / f"{ids['licence']}.html").read_bytes())
    assert "In force since 6 March 2026" in licence
    assert "at most AED 1,000,000 per transaction" in licence
    assert "For: Retail clients" in licence
    assert "Upgrades NOC VARA/NOC/2026/0001" in licence
    assert "Custody and administration" in licence  # listed as not permitted


def test_history_lists_every_log_entry_about_a_certificate(
    story: Story, site: tuple[Path, RegisterReport]
) -> None:
    out, _ = site
    page = (out / "cert" / f"{story.harbour_noc.id.hex()}.html").read_text()
    history = page[page.index('id="history"') :]
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)", history)
    # issued in the batch at index 2, suspended at 5, revoked at 6 (index 0: delegation).
    assert [(int(i), what.split(" ")[0]) for i, what in rows] == [
        (2, "Issued"),
        (5, "Suspended"),
        (6, "Revoked"),
    ]


def test_names_from_certificates_are_escaped(
    story: Story, site: tuple[Path, RegisterReport]
) -> None:
    out, _ = site
    for path in [out / "index.html", *(out / "cert").iterdir()]:
        data = path.read_text()
        assert "<script>window" not in data and "<img" not in data, path
        # The only script is the register's own, on the index.
        assert data.count("<script") == (1 if path.name == "index.html" else 0)
    page = (out / "cert" / f"{story.evil_noc.id.hex()}.html").read_text()
    assert html.escape(EVIL, quote=True) in page


def test_pages_load_nothing_from_outside_and_carry_a_strict_csp(
    site: tuple[Path, RegisterReport],
) -> None:
    out, _ = site
    for path in [out / "index.html", *(out / "cert").iterdir()]:
        data = path.read_text()
        assert '<html lang="en">' in data
        assert re.search(r"(src|href)=\"(https?:)?//", data) is None, path
        csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', data)
        assert csp is not None
        policy = html.unescape(csp.group(1))
        assert policy.startswith("default-src 'none'")
        assert "unsafe-inline" not in policy
        # The inline style and script are allowed by hash, and by nothing else.
        for tag, directive in (("style", "style-src"), ("script", "script-src")):
            for body in re.findall(rf"<{tag}>(.*?)</{tag}>", data, re.S):
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                assert f"{directive} 'sha256-{digest}'" in policy


def test_rebuild_is_byte_identical_and_unchanged(
    story: Story, site: tuple[Path, RegisterReport], tmp_path: Path
) -> None:
    out, report = site
    again = build_register(story.ledger, out, title=TITLE, at=AT)
    assert again.unchanged and again.digest == report.digest
    assert again.site_dir == report.site_dir
    # A second copy of the same log elsewhere gives the same bytes, file for file.
    other = build_register(new_story(MemoryStore()).ledger, tmp_path / "copy", title=TITLE, at=AT)
    assert other.digest == report.digest
    assert _tree(tmp_path / "copy") == _tree(out)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_update_swaps_the_whole_site_atomically(story: Story, tmp_path: Path) -> None:
    out = tmp_path / "register"
    first = build_register(story.ledger, out, title=TITLE, at=SUSPEND_AT + HOUR)
    assert out.is_symlink() and out.resolve() == first.site_dir
    old_files = _tree(out)
    assert "Suspended" in _text((out / "index.html").read_bytes())
    second = build_register(story.ledger, out, title=TITLE, at=AT)
    assert not second.unchanged and second.site_dir != first.site_dir
    assert out.resolve() == second.site_dir
    # The previous site is kept whole for readers in the middle of it; older ones go.
    assert _tree(first.site_dir) == old_files
    third = build_register(story.ledger, out, title=TITLE + " 2", at=AT)
    assert not first.site_dir.exists() and second.site_dir.exists()
    assert out.resolve() == third.site_dir
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".link-" in p.name]
    assert leftovers == []


def test_a_failed_build_publishes_nothing(
    story: Story, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "register"
    first = build_register(story.ledger, out, title=TITLE, at=AT)
    before = _tree(out)
    calls = 0
    real = story.ledger.bundle

    def failing(cert_id: bytes, *, size: int | None = None) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise StorageError("disk on fire")
        return real(cert_id, size=size)

    monkeypatch.setattr(story.ledger, "bundle", failing)
    with pytest.raises(StorageError, match="disk on fire"):
        build_register(story.ledger, out, title="Another title", at=AT)
    assert out.resolve() == first.site_dir and _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["register", first.site_dir.name])


def test_refuses_to_replace_a_foreign_directory(story: Story, tmp_path: Path) -> None:
    out = tmp_path / "www"
    out.mkdir()
    (out / "keep.html").write_text("not ours")
    with pytest.raises(StorageError, match="not a register published here"):
        build_register(story.ledger, out, title=TITLE, at=AT)
    assert (out / "keep.html").read_text() == "not ours"
    assert [p.name for p in tmp_path.iterdir()] == ["www"]
    empty = tmp_path / "empty"
    empty.mkdir()
    build_register(story.ledger, empty, title=TITLE, at=AT)
    assert empty.is_symlink() and (empty / "index.html").is_file()


def test_at_picks_the_checkpoint_and_bad_input_is_refused(story: Story, tmp_path: Path) -> None:
    early = build_register(story.ledger, tmp_path / "early", title=TITLE, at=START + 2 * HOUR)
    assert early.size == 4 and early.certificates == 3  # before the licence
    assert early.checkpoint_time <= START + 2 * HOUR
    with pytest.raises(OutOfRangeError):
        build_register(story.ledger, tmp_path / "x", title=TITLE, at=START - 1)
    with pytest.raises(ModelError):
        build_register(story.ledger, tmp_path / "x", title="", at=AT)
    with pytest.raises(ModelError):
        build_register(story.ledger, tmp_path / "x", title="a\nb", at=AT)
    foreign = signing.Ed25519Signer(hashlib.sha256(b"another log").digest())
    other = Ledger(
        MemoryStore(), origin=ORIGIN, authority=story.ledger.authority, log_signer=foreign
    )
    with pytest.raises(PolicyError):
        build_register(
            story.ledger,
            tmp_path / "x",
            title=TITLE,
            at=AT,
            trust=other.trust_policy(max_status_age=DAY),
        )
    assert not (tmp_path / "x").exists()


def test_a_log_that_does_not_match_its_checkpoint_is_refused(tmp_path: Path) -> None:
    store = _FlippingStore()
    story = new_story(store)
    # The revocation (entry 6) now reads back with one bit flipped: its signature fails in
    # the replay, and nothing is published.
    store.flip = 6
    with pytest.raises(NocLedgerError, match="entry 6"):
        build_register(story.ledger, tmp_path / "x", title=TITLE, at=AT)
    assert sorted(tmp_path.iterdir()) == []


class _FlippingStore(MemoryStore):
    """A memory store whose entry ``flip`` reads back with its last bit flipped."""

    flip: int | None = None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Reader]:
        with super().snapshot() as reader:
            yield cast(Reader, _FlippingReader(reader, self.flip))


class _FlippingReader:
    def __init__(self, reader: Reader, flip: int | None) -> None:
        self._reader = reader
        self._flip = flip

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def read_entries(self, start: int, end: int) -> list[bytes]:
        entries = self._reader.read_entries(start, end)
        if self._flip is not None and start <= self._flip < end:
            entry = entries[self._flip - start]
            entries[self._flip - start] = entry[:-1] + bytes([entry[-1] ^ 1])
        return entries


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=8), max_size=70))
def test_incremental_tree_root_is_rfc9162(entries: list[bytes]) -> None:
    # The replay's O(log n) root against merkle.root_of over all leaves (spec/log.md §3).
    tree = _TreeRoot()
    for entry in entries:
        tree.append(merkle.leaf_hash(entry))
    assert tree.root() == merkle.root_of([merkle.leaf_hash(e) for e in entries])


def test_certificate_of_a_revoked_key_shows_as_invalid(tmp_path: Path) -> None:
    store = MemoryStore()
    story = new_story(store)
    ledger = story.ledger
    second = signing.Ed25519Signer(hashlib.sha256(b"register: second issuer").digest())
    ledger.record_key_event(
        KeyEvent(
            KeyEventKind.DELEGATE,
            second.public_key,
            REVOKE_AT,
            REVOKE_AT,
            "second key",
            REVOKE_AT + 365 * DAY,
            ROOT_SCOPE,
        ),
        ROOT,
    )
    rogue = _noc("VARA/NOC/2026/0099", "Rogue Ltd", EVIL_LEI, REVOKE_AT)
    index = ledger.issue(rogue, second).index
    ledger.record_key_event(
        KeyEvent(
            KeyEventKind.REVOKE_KEY,
            second.public_key,
            REVOKE_AT,
            REVOKE_AT,
            reason=ReasonCode.KEY_COMPROMISE,
            invalidate_from=index,
        ),
        ROOT,
    )
    report = build_register(ledger, tmp_path / "site", title=TITLE, at=AT)
    assert report.verdicts[rogue.id.hex()] == "invalid"
    assert report.verdicts[story.licence.id.hex()] == "valid"
    page = _text((tmp_path / "site" / "cert" / f"{rogue.id.hex()}.html").read_bytes())
    assert "Invalid (issuing key revoked) — the authority revoked the key that signed it" in page
    assert "compromise of the authority's signing key" in page


# ---------------------------------------------------------------------------------------
# The command


def test_cli_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger_dir = tmp_path / "ledger"
    init = [
        "init", str(ledger_dir), "--origin", ORIGIN, "--authority", AUTHORITY.name,
        "--jurisdiction", "AE-DU", "--issuing-valid-from", "2025-01-01T00:00:00Z",
        "--issuing-valid-until", "2040-01-01T00:00:00Z", "--unsafe-no-passphrase", "--json",
    ]  # fmt: skip
    assert main(init) == 0
    request = tmp_path / "noc.json"
    request.write_text(
        json.dumps(
            {
                "instrument": "noc",
                "number": "VARA/NOC/2026/0042",
                "subject": {"legal_name": HARBOUR, "lei": HARBOUR_LEI},
                "issued_at": "2026-01-05T09:00:00Z",
                "valid_from": "2026-01-05T09:00:00Z",
                "valid_until": "2040-01-01T00:00:00Z",
                "scope": {
                    "grants": [
                        {
                            "activity": "prep.aml_registration",
                            "customer_types": ["retail"],
                            "territory": {"include": ["AE-DU"]},
                        }
                    ]
                },
                "legal_notices": [{"code": NOC_DISCLAIMER_CODE, "text": NOC_DISCLAIMER_TEXT}],
            }
        )
    )
    assert main(["issue", str(ledger_dir), str(request), "--json"]) == 0
    capsys.readouterr()
    out = tmp_path / "site"
    # The command's checkpoint is signed by the real clock; ask a minute later.
    at = str(int(time.time()) + 60)
    argv = ["register", str(ledger_dir), "-o", str(out), "--at", at]
    assert main([*argv, "--json", "--title", "Our register"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["certificates"] == 1 and result["unchanged"] is False
    assert list(result["verdicts"].values()) == ["valid"]
    assert "Our register" in (out / "index.html").read_text()
    assert main([*argv, "--title", "Our register"]) == 0
    assert "register unchanged" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["register", str(tmp_path / "nothing"), "-o", str(out)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("noc-ledger: ") and len(err.splitlines()) == 1


# ---------------------------------------------------------------------------------------
# In a browser, as a person sees it

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@dataclasses.dataclass
class Browser:
    """A Selenium driver and the directory its downloads land in."""

    driver: Any
    downloads: Path

    def __getattr__(self, name: str) -> Any:
        return getattr(self.driver, name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium")
    if missing:
        if os.environ.get("NOC_LEDGER_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"NOC_LEDGER_REQUIRE_CHROMIUM=1 but missing: {missing}")
        pytest.skip(f"missing: {missing}")
    downloads = tempfile.mkdtemp(prefix="register-downloads-")
    profile = tempfile.mkdtemp(prefix="register-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": downloads, "download.prompt_for_download": False},
    )
    # An explicit driver path: Selenium Manager never downloads anything.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads}
    )
    try:
        yield Browser(driver, Path(downloads))
    finally:
        driver.quit()
        shutil.rmtree(downloads, ignore_errors=True)
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def served(site: tuple[Path, RegisterReport]) -> Iterator[str]:
    out, _ = site
    handler = partial(_QuietHandler, directory=str(out.resolve()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _visible_rows(driver: Any) -> list[str]:
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('#certificates tbody tr'))"
            ".filter(r => r.offsetParent !== null).map(r => r.innerText);"
        )
    )


def test_browser_index_shows_every_firm_and_filters(
    browser: Browser, served: str, story: Story
) -> None:
    browser.get(served + "index.html")
    text = browser.execute_script("return document.body.innerText")
    assert TITLE in text
    for expected in (FALCON, HARBOUR, EVIL, FALCON_LEI, "VARA/LIC/2026/0001", "Revoked",
                     "Superseded", "In force"):  # fmt: skip
        assert expected in text, expected
    rows = _visible_rows(browser)
    assert len(rows) == 4
    (harbour_row,) = [r for r in rows if HARBOUR in r]
    assert "Revoked" in harbour_row and "false or misleading information" in harbour_row
    # The search box (shown by the script) filters rows as one types.
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    box = browser.find_element(By.ID, "q")
    assert box.is_displayed()
    label = browser.find_element(By.CSS_SELECTOR, "label[for=q]").text
    assert "Search" in label
    box.send_keys("falcon")
    rows = _visible_rows(browser)
    assert len(rows) == 2 and all(FALCON in r for r in rows)
    assert "Showing 2 of 4" in browser.find_element(By.ID, "shown").text
    box.clear()
    box.send_keys(HARBOUR_LEI.lower())
    assert [HARBOUR in r for r in _visible_rows(browser)] == [True]
    box.clear()
    box.send_keys("no such firm")
    assert _visible_rows(browser) == []
    box.clear()
    box.send_keys(" ")  # send_keys does not fire input on clear(): type something blank
    assert len(_visible_rows(browser)) == 4
    Select(browser.find_element(By.ID, "status-filter")).select_by_value("in-force")
    rows = _visible_rows(browser)
    assert len(rows) == 2 and {FALCON in r or "window.__pwned" in r for r in rows} == {True}


def test_browser_links_resolve_and_no_injected_script_runs(
    browser: Browser, served: str, story: Story
) -> None:
    browser.get(served + "index.html")
    assert browser.execute_script("return window.__pwned === undefined") is True
    assert browser.execute_script("return document.scripts.length") == 1
    links = browser.execute_script("return Array.from(document.links).map(a => a.href)")
    pages = set()
    for href in links:
        assert href.startswith(served), href  # nothing leaves the site
        pages.add(href)
    for href in sorted(pages):
        browser.get(href)
        if href.endswith(".html"):
            assert browser.execute_script("return window.__pwned === undefined") is True
            assert "404" not in browser.title
            for inner in browser.execute_script(
                "return Array.from(document.links).map(a => a.href)"
            ):
                assert inner.startswith(served), inner
                _assert_exists(served, inner)
        else:
            _assert_exists(served, href)
    browser.get(served + f"cert/{story.evil_noc.id.hex()}.html")
    heading = browser.execute_script("return document.querySelector('h1').innerText")
    assert heading == EVIL  # shown as text, exactly
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.images.length") == 0
    assert browser.execute_script("return window.__pwned === undefined") is True


def _assert_exists(served: str, href: str) -> None:
    import urllib.request

    with urllib.request.urlopen(href.split("#", maxsplit=1)[0], timeout=10) as response:
        assert response.status == 200, href


@pytest.mark.parametrize(
    ("which", "verdict", "words"),
    [
        ("licence", Verdict.VALID, "In force"),
        ("falcon_noc", Verdict.SUPERSEDED, "Superseded"),
        ("harbour_noc", Verdict.REVOKED, "Revoked"),
    ],
)
def test_browser_download_verifies_offline(
    browser: Browser, served: str, story: Story, which: str, verdict: Verdict, words: str
) -> None:
    from selenium.webdriver.common.by import By

    cert_id = story.ids()[which]
    browser.get(served + "index.html")
    browser.find_element(By.CSS_SELECTOR, f'a[href="cert/{cert_id}.html"]').click()
    status = browser.find_element(By.ID, "status").text
    assert words in status
    for name in (f"{cert_id}.cbor", "trust.txt"):
        (browser.downloads / name).unlink(missing_ok=True)
    browser.find_element(By.ID, "bundle-link").click()
    browser.find_element(By.ID, "trust-link").click()
    bundle = _wait_for(browser.downloads / f"{cert_id}.cbor")
    trust = _wait_for(browser.downloads / "trust.txt")
    # Verified with nothing but the two downloaded files, at the time the page speaks of.
    explanation = explain_bundle(bundle, parse_policy(trust), at=AT)
    assert explanation.verdict is verdict, explanation.steps
    assert f"the bundle verified as: {verdict}" in browser.execute_script(
        "return document.body.innerText"
    )


def _wait_for(path: Path) -> bytes:
    # Polls for a download to finish (a bounded wait, not a timing assertion).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.is_file() and not Path(str(path) + ".crdownload").exists():
            data = path.read_bytes()
            if data:
                return data
        time.sleep(0.05)
    raise AssertionError(f"{path.name} was not downloaded")
