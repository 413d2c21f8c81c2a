"""The tamper-evident audit log: recorder, hash chain, signing and verification (issue 4)."""
