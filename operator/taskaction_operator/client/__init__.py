"""The control-plane side: building TaskActions (and, later, submitting and watching runs)."""
