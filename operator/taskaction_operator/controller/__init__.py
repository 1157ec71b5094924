"""Reconciliation: pure decisions (what to do) and the thin kopf shell that does it."""
