"""Custody: signatures, Merkle batches, RFC 3161 seals, the ledger, fixity audits, export."""
