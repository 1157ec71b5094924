"""Kubernetes timestamps: RFC 3339 in UTC, as metav1.Time writes them (seconds) and MicroTime (microseconds)."""

from __future__ import annotations

from datetime import UTC, datetime

COMPLETED_TIME_FORMAT = "%Y-%m-%d.%H-%M"


def parse_time(value: str | None) -> datetime | None:
    """A timestamp as the API server writes it (`...Z`), or None when unset."""
    return datetime.fromisoformat(value) if value else None


def rfc3339(moment: datetime) -> str:
    """metav1.Time: whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(moment: datetime) -> str:
    """metav1.MicroTime (Leases, events.k8s.io Events): microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def completed_time_label(moment: datetime) -> str:
    """The `flyte.org/completed-time` label: Go "2006-01-02.15-04" in UTC, minute precision, ordered as text."""
    return moment.astimezone(UTC).strftime(COMPLETED_TIME_FORMAT)


def utcnow() -> datetime:
    return datetime.now(UTC)
