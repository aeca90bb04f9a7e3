"""Publishing the log for people (an edge: reads the ledger, writes files).

:func:`~noc_ledger.publish.register.build_register` writes the public register: a static
HTML site listing every certificate with its scope in plain words, its status history and
a download of its offline bundle, built from one verified checkpoint (docs/register.md).
"""

from __future__ import annotations

from noc_ledger.publish.register import RegisterReport, build_register

__all__ = ["RegisterReport", "build_register"]
