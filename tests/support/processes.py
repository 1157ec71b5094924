"""Child processes of the tests (the operator, SeaweedFS) must not outlive a test run that is killed."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL when the test process dies, even by SIGKILL. Best effort."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


DIE_WITH_PARENT = _die_with_parent if sys.platform.startswith("linux") else None
