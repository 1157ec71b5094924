"""Kubernetes timestamps: what the API server writes is what we parse, and we write what Go's formatters write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from taskaction_operator.api.times import completed_time_label, parse_time, rfc3339, rfc3339_micro

MOMENT = datetime(2026, 8, 8, 12, 0, 5, 123456, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))


def test_metav1_time_is_whole_seconds_in_utc() -> None:
    assert rfc3339(MOMENT) == "2026-08-08T12:00:05Z"
    assert rfc3339(MOMENT.astimezone(CEST)) == "2026-08-08T12:00:05Z"


def test_micro_time_keeps_the_microseconds() -> None:
    assert rfc3339_micro(MOMENT.astimezone(CEST)) == "2026-08-08T12:00:05.123456Z"


def test_what_we_write_parses_back() -> None:
    assert parse_time(rfc3339_micro(MOMENT)) == MOMENT
    assert parse_time("2026-08-08T12:00:05Z") == MOMENT.replace(microsecond=0)
    assert parse_time(None) is None and parse_time("") is None


def test_completed_time_label_is_minute_precise_utc() -> None:
    assert completed_time_label(MOMENT.astimezone(CEST)) == "2026-08-08.12-00"
