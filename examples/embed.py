"""Embedding noc_ledger: a regulator's system issues and revokes; a bank verifies offline.

The README's "Embed the library" section is this file. Run it with
``python examples/embed.py`` after ``pip install .``; tests/test_examples.py runs it too.
Keys here are throwaway; a real regulator keeps them in key files or an HSM
(``noc_ledger.hsm``), and its ledger in ``SqliteStore`` or ``PostgresStore``.
"""

from __future__ import annotations

from noc_ledger import signing
from noc_ledger.errors import OutOfScopeError, RevokedError
from noc_ledger.events import KeyEvent, KeyEventKind, ReasonCode, StatusEvent, StatusEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.logstate import Authority
from noc_ledger.model import (
    NOC_DISCLAIMER_CODE,
    NOC_DISCLAIMER_TEXT,
    Certificate,
    Instrument,
    Issuer,
    LegalNotice,
    Subject,
)
from noc_ledger.policy import parse_policy
from noc_ledger.scope import Grant, Query, Scope, Territory
from noc_ledger.verify import verify_bundle

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z: time is always a parameter (spec/verification.md)
DAY = 86_400
EVERYONE = ("institutional", "professional", "retail")
UAE = Territory(("AE",))


def main() -> None:
    # --- the regulator: keys, a ledger, a delegated issuing key -------------------------
    root, issuing, log = (signing.Ed25519Signer.generate() for _ in range(3))
    root_scope = Scope((Grant("prep", EVERYONE, UAE), Grant("va", EVERYONE, UAE)))
    now = T0
    ledger = Ledger(
        MemoryStore(),
        origin="vara.example/noc-ledger",
        authority=Authority(root.public_key, root_scope),
        log_signer=log,
        clock=lambda: now,  # the ledger signs checkpoints with this time
    )
    ledger.record_key_event(
        KeyEvent(
            KeyEventKind.DELEGATE,
            issuing.public_key,
            effective_at=T0,
            decided_at=T0,
            label="issuing",
            valid_until=T0 + 365 * DAY,
            scope=root_scope,  # the most the issuing key may grant
        ),
        root,
    )

    # --- issue a NOC: preparatory activities only, with its disclaimer --------------------
    noc = Certificate(
        instrument=Instrument.NOC,
        number="VARA/NOC/2026/0001",
        issuer=Issuer("Virtual Assets Regulatory Authority", "AE-DU"),
        subject=Subject("Example Exchange FZE", lei="529900T8BM49AURSDO55"),
        issued_at=T0,
        valid_from=T0,
        valid_until=T0 + 180 * DAY,
        scope=Scope((Grant("prep.aml_registration", EVERYONE, UAE),)),
        legal_notices=(LegalNotice(NOC_DISCLAIMER_CODE, NOC_DISCLAIMER_TEXT),),
    )
    receipt = ledger.issue(noc, issuing)  # durable when it returns
    print(f"issued {noc.number} at log index {receipt.index}")
    trust = ledger.trust_policy(max_status_age=3 * DAY)  # the file the regulator publishes
    bundle = ledger.bundle(noc.id)  # the exchange's proof: one self-contained file

    # --- a bank, offline, with only the trust file and the bundle ------------------------
    policy = parse_policy(trust)
    ask = Query("prep.aml_registration", "retail", "AE")
    verified = verify_bundle(bundle, policy, at=T0 + DAY, query=ask)
    print(f"bank: {verified.certificate.subject.legal_name} may register for AML: valid")
    try:
        verify_bundle(bundle, policy, at=T0 + DAY, query=Query("va.exchange.fiat", "retail", "AE"))
    except OutOfScopeError as exc:
        print(f"bank: operate a fiat exchange? out of scope ({exc})")

    # --- the regulator revokes; a fresh bundle says so --------------------------------
    now = T0 + 10 * DAY
    ledger.record(
        StatusEvent(
            StatusEventKind.REVOKE,
            noc.id,
            effective_at=now,
            decided_at=now,
            reason=ReasonCode.FALSE_INFORMATION,
        ),
        issuing,
    )
    try:
        verify_bundle(ledger.bundle(noc.id), policy, at=now + 60, query=ask)
    except RevokedError as exc:
        print(f"bank: revoked ({exc})")


if __name__ == "__main__":
    main()
