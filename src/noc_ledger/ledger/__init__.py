"""The writer side of noc_ledger: storage, issuance, lifecycle events, checkpoints.

Everything here builds on the pure core and is allowed to touch files and databases; the
core never imports it (tests/test_architecture.py).
"""
