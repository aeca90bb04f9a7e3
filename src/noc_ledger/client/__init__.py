"""The verifier's side at the edge: what a relying party keeps between runs, in files.

The pure rules live in the core (:mod:`noc_ledger.splitview`); this package only gives them
durable, process-safe storage.
"""

from __future__ import annotations

from noc_ledger.client.checkpoint_store import FileCheckpointStore

__all__ = ["FileCheckpointStore"]
