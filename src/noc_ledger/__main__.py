"""``python -m noc_ledger`` runs the `noc-ledger` command."""

from noc_ledger.cli import entry

entry()
