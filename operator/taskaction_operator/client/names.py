"""The names a run may have, checked before any API call: the run name a DNS-1035 label of at most 30 characters
(flyteorg/flyte runs/service/utils.go validateRunName), an action name a DNS-1123 label of at most 30 (it is part of
the TaskAction's name and a label value), project and domain label values, the namespace a DNS-1123 label.
`InvalidName` says which rule a name breaks."""

from __future__ import annotations

import re

from ..api import constants as c
from .errors import InvalidName

MAX_RUN_NAME = 30
MAX_ACTION_NAME = 30
MAX_PROJECT_DOMAIN = 63
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(c.DNS1123_LABEL_PATTERN)
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _validate(value: str, what: str, limit: int, pattern: re.Pattern[str], rule: str) -> None:
    if not value:
        raise InvalidName(f"{what} is empty")
    if len(value) > limit:
        raise InvalidName(f"{what} {value!r} is {len(value)} characters long; at most {limit} are allowed")
    if not pattern.match(value):
        raise InvalidName(f"{what} {value!r} {rule}")


def validate_run_name(run: str) -> None:
    _validate(
        run, "run name", MAX_RUN_NAME, _DNS1035_LABEL,
        "is not a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
    )


def validate_action_name(action: str, what: str = "action name") -> None:
    _validate(
        action, what, MAX_ACTION_NAME, _DNS1123_LABEL,
        "must be lowercase letters, digits and '-', starting and ending with a letter or digit "
        "(it is part of the TaskAction's name and a label value)",
    )


def validate_scope(value: str, what: str) -> None:
    _validate(
        value, what, MAX_PROJECT_DOMAIN, _LABEL_VALUE,
        "is not a valid label value: letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    )


def validate_namespace(namespace: str) -> None:
    if not namespace or len(namespace) > 63 or not _DNS1123_LABEL.match(namespace):
        raise InvalidName(f"namespace {namespace!r} is not a DNS-1123 label (lowercase letters, digits, '-'; at most 63)")


def validate_names(*, run: str, action: str, project: str, domain: str, namespace: str, parent: str | None = None) -> None:
    validate_run_name(run)
    validate_action_name(action)
    if parent is not None:
        validate_action_name(parent, "parent action name")
    validate_scope(project, "project")
    validate_scope(domain, "domain")
    validate_namespace(namespace)
