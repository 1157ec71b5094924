"""Names are checked before any API call, and the error says which rule a name breaks."""

from __future__ import annotations

import pytest

from taskaction_operator.client import errors, names


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ("", "run name is empty"),
        ("r" * 31, "is 31 characters long; at most 30"),
        ("1abc", "not a DNS-1035 label"),
        ("Abc", "not a DNS-1035 label"),
        ("abc-", "not a DNS-1035 label"),
        ("a_b", "not a DNS-1035 label"),
    ],
)
def test_run_names_are_dns_1035_labels_of_at_most_30(run: str, message: str) -> None:
    with pytest.raises(errors.InvalidName, match=message):
        names.validate_run_name(run)


def test_valid_names_pass() -> None:
    names.validate_names(run="r" * 30, action="a" * 30, project="p" * 63, domain="development", namespace="flyte", parent="a0")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "a" * 31}, "action name 'a{31}' is 31 characters long"),
        ({"action": "Bad"}, "action name 'Bad' must be lowercase"),
        ({"project": "p" * 64}, "project 'p{64}' is 64 characters long; at most 63"),
        ({"domain": "-dev"}, "domain '-dev' is not a valid label value"),
        ({"project": ""}, "project is empty"),
        ({"namespace": "Flyte"}, "namespace 'Flyte' is not a DNS-1123 label"),
        ({"parent": "x" * 31}, "parent action name"),
    ],
)
def test_invalid_names_say_what_is_wrong(kwargs: dict, message: str) -> None:
    values = {"run": "r1", "action": "a0", "project": "demo", "domain": "development", "namespace": "flyte", **kwargs}
    with pytest.raises(errors.InvalidName, match=message):
        names.validate_names(**values)
