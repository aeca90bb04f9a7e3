"""A small authority used by the ledger tests: fixed keys, a root scope, helpers to
build a ledger on any store."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools

from noc_ledger import signing
from noc_ledger.events import KeyEvent, KeyEventKind, ReasonCode, StatusEvent, StatusEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.store import Store
from noc_ledger.logstate import Authority
from noc_ledger.model import Certificate
from noc_ledger.scope import Grant, Scope, Territory
from tools.gen_vectors import T0, sample_noc

ROOT = signing.Ed25519Signer(hashlib.sha256(b"story: root").digest())
ISSUER = signing.Ed25519Signer(hashlib.sha256(b"story: issuer").digest())
LOG = signing.Ed25519Signer(hashlib.sha256(b"story: log").digest())
ORIGIN = "vara.example/noc-ledger"
ALL = ("institutional", "professional", "retail")
ROOT_SCOPE = Scope((Grant("prep", ALL, Territory(("AE",))), Grant("va", ALL, Territory(("AE",)))))
AUTHORITY = Authority(ROOT.public_key, ROOT_SCOPE)
YEAR = 365 * 86_400


def clock() -> int:
    return T0 + 10


def new_ledger(store: Store, *, delegate: bool = True) -> Ledger:
    ledger = Ledger(store, origin=ORIGIN, authority=AUTHORITY, log_signer=LOG, clock=clock)
    if delegate and ledger.size() == 0:
        ledger.record_key_event(delegation(ISSUER), ROOT)
    return ledger


def delegation(key: signing.Ed25519Signer) -> KeyEvent:
    return KeyEvent(
        KeyEventKind.DELEGATE, key.public_key, T0 - 1, T0 - 1, "issuing", T0 + 5 * YEAR, ROOT_SCOPE
    )


_numbers = itertools.count(1)


def noc(number: int | None = None) -> Certificate:
    n = next(_numbers) if number is None else number
    return dataclasses.replace(sample_noc(), number=f"VARA/NOC/2026/{n:07d}")


def event(kind: StatusEventKind, cert_id: bytes, at: int = T0 + 1) -> StatusEvent:
    reason = (
        ReasonCode.BREACH_OF_CONDITIONS
        if kind in (StatusEventKind.SUSPEND, StatusEventKind.REVOKE)
        else None
    )
    return StatusEvent(kind, cert_id, at, at, reason)
