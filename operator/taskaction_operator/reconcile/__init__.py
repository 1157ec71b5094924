"""The reconcile decisions: pure functions from what the API server holds (and what the shell looked up) to a Plan.
No I/O here; controller/ carries the plans out."""
