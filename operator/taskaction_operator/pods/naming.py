"""Names and label values of the pods we create (flyteplugins utils, executor task_exec_metadata.go)."""

from __future__ import annotations

import hashlib
import re

from ..api.constants import ROOT_ACTION_NAME

_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9._-]")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# k8s.io/apimachinery rand.String's alphabet (no vowels, no confusable digits), which upstream's fallback name uses.
_RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def retry_index(attempts: int | None) -> int:
    """0-based retry of a 1-based attempt count; 0/unset counts as the first attempt."""
    return 0 if not attempts or attempts <= 1 else attempts - 1


def pod_name(taskaction_name: str, attempts: int | None) -> str:
    return f"{taskaction_name}-{retry_index(attempts)}"


def container_name(pod_name: str) -> str:
    """The primary container of a container task is named like its pod (BuildRawContainer), unless that is no DNS-1123
    label (longer than 63): then 4 characters of rand.String's alphabet, here derived from the pod name so that the
    same pod is always built the same."""
    if len(pod_name) <= 63 and _DNS1123_LABEL.match(pod_name):
        return pod_name
    digest = hashlib.sha256(pod_name.encode()).digest()
    return "".join(_RAND_ALPHABET[b % len(_RAND_ALPHABET)] for b in digest[:4])


def sanitize_label_value(value: str) -> str:
    """Replace what a label value may not hold, cut to 63, force alphanumeric ends with `x`."""
    value = _LABEL_INVALID.sub("-", value)[:63]
    if not value:
        return value
    if not value[0].isalnum():
        value = "x" + value[1:]
    if not value[-1].isalnum():
        value = value[:-1] + "x"
    return value


def taskaction_name(run_name: str, action_name: str) -> str:
    """The CR name the actions service gives an action: the root is `<run>-a0` whatever its action name."""
    if action_name in (run_name, ROOT_ACTION_NAME):
        return f"{run_name}-{ROOT_ACTION_NAME}"
    return f"{run_name}-{action_name}"
