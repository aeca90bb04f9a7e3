"""Quick start: an authority signs a NOC for an exchange; a bank checks it offline.

Run with ``python examples/quickstart.py`` after ``pip install .``. It uses throwaway keys
and prints what a relying party would see. (The full story — ledger, revocation, bundles —
arrives with the ``noc-ledger demo`` command.)
"""

from __future__ import annotations

from noc_ledger import signing
from noc_ledger.errors import SignatureError
from noc_ledger.model import (
    NOC_DISCLAIMER_CODE,
    NOC_DISCLAIMER_TEXT,
    Certificate,
    Instrument,
    Issuer,
    LegalNotice,
    Subject,
    sign_certificate,
    verify_certificate,
)
from noc_ledger.scope import Grant, Query, Scope, Territory, evaluate

JAN_2026 = 1_767_225_600  # 2026-01-01T00:00:00Z, seconds since the epoch
DAY = 86_400


def main() -> None:
    authority = signing.Ed25519Signer.generate()
    uae = Territory(("AE",))
    everyone = ("institutional", "professional", "retail")
    noc = Certificate(
        instrument=Instrument.NOC,
        number="VARA/NOC/2026/0001",
        issuer=Issuer("Virtual Assets Regulatory Authority", "AE-DU"),
        subject=Subject("Example Exchange FZE", lei="529900T8BM49AURSDO55"),
        issued_at=JAN_2026,
        valid_from=JAN_2026,
        valid_until=JAN_2026 + 180 * DAY,
        scope=Scope(
            (
                Grant("prep.aml_registration", everyone, uae),
                Grant("prep.local_incorporation", everyone, uae),
                Grant("prep.licence_application", everyone, uae),
            )
        ),
        legal_notices=(LegalNotice(NOC_DISCLAIMER_CODE, NOC_DISCLAIMER_TEXT),),
    )
    signed = sign_certificate(noc, authority)
    print(f"authority signed NOC {noc.number}: {len(signed)} bytes, id {noc.id.hex()}")

    # The bank has only the signed bytes and the authority's public key.
    verified = verify_certificate(signed, public_key=authority.public_key)
    cert = verified.certificate
    print(f"signature valid; subject {cert.subject.legal_name}, instrument {cert.instrument}")
    for activity in ("prep.aml_registration", "va.exchange.fiat"):
        answer = evaluate(cert.scope, Query(activity, "retail", "AE"))
        print(f"  may {activity} for retail customers in AE? {answer.permitted}")
    notice = cert.legal_notice(NOC_DISCLAIMER_CODE)
    if notice is not None:
        print(f"  legal notice: {notice.text}")

    tampered = signed[:-1] + bytes([signed[-1] ^ 1])
    try:
        verify_certificate(tampered, public_key=authority.public_key)
    except SignatureError as exc:
        print(f"a tampered copy is rejected: {exc}")


if __name__ == "__main__":
    main()
