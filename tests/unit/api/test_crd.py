"""The generated CRD against the upstream CRD (docs/upstream-contract.md, "The CRD") plus our documented additions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from taskaction_operator.api import constants as c
from taskaction_operator.api import crd as crd_module
from taskaction_operator.api.models import CONDITION_REASON_PATTERN, Condition, TaskAction

REPO = Path(__file__).resolve().parents[3]
CHECKED_IN = REPO / "crds" / "taskactions.flyte.org.yaml"


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return crd_module.crd()


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    (only,) = crd["spec"]["versions"]
    return only


@pytest.fixture(scope="module")
def spec_schema(version: dict[str, Any]) -> dict[str, Any]:
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]


@pytest.fixture(scope="module")
def status_schema(version: dict[str, Any]) -> dict[str, Any]:
    return version["schema"]["openAPIV3Schema"]["properties"]["status"]


def test_checked_in_crd_matches_the_models() -> None:
    assert CHECKED_IN.read_text() == crd_module.render(), (
        f"{CHECKED_IN.relative_to(REPO)} is out of date with api/models.py; regenerate it from the repository root "
        "with `python -m taskaction_operator.api.crd > crds/taskactions.flyte.org.yaml`"
    )


def test_rendered_yaml_parses_back_to_the_crd(crd: dict[str, Any]) -> None:
    assert yaml.safe_load(crd_module.render()) == crd


def test_identity(crd: dict[str, Any], version: dict[str, Any]) -> None:
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "taskactions.flyte.org"
    spec = crd["spec"]
    assert spec["group"] == "flyte.org"
    assert spec["scope"] == "Namespaced"
    names = spec["names"]
    assert (names["kind"], names["listKind"], names["plural"], names["singular"]) == (
        "TaskAction",
        "TaskActionList",
        "taskactions",
        "taskaction",
    )
    # Our addition over upstream (which has none): `kubectl get ta`.
    assert names["shortNames"] == ["ta"]
    assert version["name"] == "v1" and version["served"] is True and version["storage"] is True


def test_status_subresource_only(version: dict[str, Any]) -> None:
    assert version["subresources"] == {"status": {}}


def test_printer_columns_as_upstream(version: dict[str, Any]) -> None:
    progressing = ".status.conditions[?(@.type=='Progressing')]"
    expected = [
        ("Run", "string", ".spec.runName", 0),
        ("Action", "string", ".spec.actionName", 0),
        ("TaskType", "string", ".spec.taskType", 0),
        ("Status", "string", progressing + ".reason", 0),
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Progressing", "string", progressing + ".status", 1),
        ("Succeeded", "string", ".status.conditions[?(@.type=='Succeeded')].status", 1),
        ("Failed", "string", ".status.conditions[?(@.type=='Failed')].status", 1),
    ]
    got = [(col["name"], col["type"], col["jsonPath"], col.get("priority", 0)) for col in version["additionalPrinterColumns"]]
    assert got == expected


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_no_preserve_unknown_fields_anywhere(crd: dict[str, Any]) -> None:
    offenders = [path for path, node in _walk(crd) if "x-kubernetes-preserve-unknown-fields" in node]
    assert offenders == []


def test_schema_is_structural(version: dict[str, Any]) -> None:
    """Every schema node has a type, and no $ref/anyOf/nullable is left from pydantic."""
    root = version["schema"]["openAPIV3Schema"]

    def check(schema: dict[str, Any], path: str) -> None:
        assert "type" in schema, f"{path} has no type"
        for forbidden in ("$ref", "anyOf", "allOf", "oneOf", "nullable", "$defs", "title", "default"):
            assert forbidden not in schema, f"{path} has {forbidden}"
        for name, prop in (schema.get("properties") or {}).items():
            check(prop, f"{path}.{name}")
        if "items" in schema:
            check(schema["items"], f"{path}[]")
        if isinstance(schema.get("additionalProperties"), dict):
            check(schema["additionalProperties"], f"{path}{{}}")

    check(root, "openAPIV3Schema")
    assert root["required"] == ["spec"]


STRING_LIMITS = {
    # field: (minLength, maxLength) per the upstream CRD
    "runName": (1, 30),
    "project": (1, 63),
    "domain": (1, 63),
    "actionName": (1, 30),
    "parentActionName": (1, 30),
    "cacheKey": (None, 256),
    "taskType": (None, 63),
    "shortName": (None, 63),
    "group": (None, 256),
}


@pytest.mark.parametrize(("field", "limits"), sorted(STRING_LIMITS.items()))
def test_spec_string_limits(spec_schema: dict[str, Any], field: str, limits: tuple[int | None, int]) -> None:
    prop = spec_schema["properties"][field]
    assert prop["type"] == "string"
    assert prop.get("minLength") == limits[0]
    assert prop["maxLength"] == limits[1]


def test_spec_has_every_reference_field(spec_schema: dict[str, Any]) -> None:
    expected = {
        "runName", "project", "domain", "actionName", "parentActionName", "actionType", "conditionSpec", "inputUri",
        "runOutputBase", "cacheKey", "taskType", "shortName", "taskTemplate", "envVars", "interruptible", "group",
    }  # fmt: skip
    assert set(spec_schema["properties"]) == expected
    assert spec_schema["type"] == "object"
    assert set(spec_schema["required"]) == {"actionName", "domain", "project", "runName"}


def test_spec_types(spec_schema: dict[str, Any]) -> None:
    props = spec_schema["properties"]
    assert props["actionType"] == {**props["actionType"], "type": "string", "enum": ["task", "condition"]}
    for field in ("taskTemplate", "conditionSpec"):
        assert (props[field]["type"], props[field]["format"]) == ("string", "byte")
    for field in ("inputUri", "runOutputBase"):
        assert props[field]["type"] == "string"
    assert props["envVars"]["type"] == "object"
    assert props["envVars"]["additionalProperties"] == {"type": "string"}
    assert props["interruptible"]["type"] == "boolean"


def test_status_has_every_reference_field(status_schema: dict[str, Any]) -> None:
    expected = {
        "stateJson", "pluginState", "pluginStateVersion", "pluginPhase", "pluginPhaseVersion", "attempts",
        "systemFailures", "cacheStatus", "conditions", "phaseHistory", "errorState", "signalValue", "signalledBy",
        "signalledAt",
    }  # fmt: skip
    assert set(status_schema["properties"]) == expected
    assert "required" not in status_schema, "all status fields are optional"


def test_status_types(status_schema: dict[str, Any]) -> None:
    props = status_schema["properties"]
    for field in ("pluginState", "signalValue"):
        assert (props[field]["type"], props[field]["format"]) == ("string", "byte")
    for field in ("stateJson", "pluginPhase", "signalledBy"):
        assert props[field]["type"] == "string"
    for field in ("pluginStateVersion", "pluginPhaseVersion", "attempts", "systemFailures", "cacheStatus"):
        assert props[field]["type"] == "integer"
    assert props["pluginStateVersion"]["maximum"] == 255  # uint8
    assert (props["signalledAt"]["type"], props["signalledAt"]["format"]) == ("string", "date-time")
    assert set(props["errorState"]["properties"]) == {"code", "kind", "message"}
    history = props["phaseHistory"]
    assert history["type"] == "array"
    assert set(history["items"]["required"]) == {"phase", "occurredAt"}
    assert history["items"]["properties"]["occurredAt"]["format"] == "date-time"
    assert set(history["items"]["properties"]) == {"phase", "occurredAt", "message"}


def test_conditions_are_a_list_map_of_metav1_conditions(status_schema: dict[str, Any]) -> None:
    conditions = status_schema["properties"]["conditions"]
    assert conditions["type"] == "array"
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["required"]) == {"lastTransitionTime", "message", "reason", "status", "type"}
    props = item["properties"]
    assert props["reason"]["pattern"] == r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
    assert (props["reason"]["minLength"], props["reason"]["maxLength"]) == (1, 1024)
    assert props["message"]["maxLength"] == 32768
    assert props["status"]["enum"] == ["True", "False", "Unknown"]
    assert props["type"]["maxLength"] == 316
    assert props["lastTransitionTime"]["format"] == "date-time"


def test_every_reason_we_write_matches_the_schema_pattern() -> None:
    reasons = [value for name, value in vars(c).items() if name.startswith("REASON_")]
    assert len(reasons) == 12
    for reason in reasons:
        assert re.fullmatch(CONDITION_REASON_PATTERN, reason), reason


class TestModels:
    def test_unknown_spec_fields_are_dropped_like_the_apiserver_prunes_them(self) -> None:
        ta = TaskAction.model_validate(
            {"metadata": {}, "spec": {"runName": "r", "project": "p", "domain": "d", "actionName": "a0", "org": "demo"}}
        )
        assert "org" not in ta.spec.model_dump(by_alias=True)

    def test_limits_are_enforced(self) -> None:
        base = {"runName": "r", "project": "p", "domain": "d", "actionName": "a0"}
        with pytest.raises(ValidationError, match="runName"):
            TaskAction.model_validate({"spec": {**base, "runName": "r" * 31}})
        with pytest.raises(ValidationError, match="actionType"):
            TaskAction.model_validate({"spec": {**base, "actionType": "workflow"}})
        with pytest.raises(ValidationError, match="project"):
            TaskAction.model_validate({"spec": {**base, "project": ""}})
        assert TaskAction.model_validate({"spec": {**base, "runName": "r" * 30}}).spec.run_name == "r" * 30

    def test_condition_reason_pattern(self) -> None:
        good = {"type": "Progressing", "status": "True", "lastTransitionTime": "2026-08-08T12:00:00Z", "message": ""}
        assert Condition.model_validate({**good, "reason": "Unschedulable:x_y"}).reason == "Unschedulable:x_y"
        for bad in ("1Queued", "Queued:", "has space", ""):
            with pytest.raises(ValidationError):
                Condition.model_validate({**good, "reason": bad})
