"""noc_ledger: signed, logged, offline-verifiable regulatory certificates.

The pure core (no file, clock, network or printing) is made of :mod:`noc_ledger.codec`,
:mod:`noc_ledger.signing`, :mod:`noc_ledger.merkle`, :mod:`noc_ledger.scope`,
:mod:`noc_ledger.model` and :mod:`noc_ledger.vocabulary`. The formats they implement are
defined normatively in ``spec/``.
"""

from __future__ import annotations

__version__ = "0.1.0"
