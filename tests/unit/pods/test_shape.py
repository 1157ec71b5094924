"""pods.shape: a k8s_pod target's pod spec of the wrong JSON shape is named, field by field, before it is read."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskaction_operator.api import constants as c
from taskaction_operator.pods.shape import k8s_pod_problem, pod_spec_problem
from taskaction_operator.reconcile.task import reconcile_task
from taskaction_operator.settings import Settings

from ..builders import NOW, cond_tuple, k8s_pod_template, spec, taskaction

GOOD = {
    "containers": [
        {
            "name": "primary",
            "image": "busybox",
            "args": ["sh", "-c", "true"],
            "env": [{"name": "A", "value": "1"}],
            "ports": [{"containerPort": 8080}],
            "resources": {"limits": {"cpu": 1, "memory": "1Gi"}},
        }
    ],
    "nodeSelector": {"disk": "ssd"},
    "tolerations": [{"key": "gpu", "operator": "Exists", "tolerationSeconds": 30}],
    "volumes": [{"name": "scratch", "emptyDir": {}}],
}

MISSHAPEN = [
    ({"containers": "primary"}, "podSpec.containers: expected a list, got string"),
    ({"containers": [{"name": 5}]}, "podSpec.containers[0].name: expected a string, got number"),
    ({"containers": [{"name": "p", "args": "sh -c true"}]}, "podSpec.containers[0].args: expected a list, got string"),
    ({"containers": [{"name": "p", "env": {"A": "1"}}]}, "podSpec.containers[0].env: expected a list, got object"),
    ({"containers": [{"name": "p", "env": [{"name": "A", "value": 1}]}]}, "podSpec.containers[0].env[0].value: expected a string"),
    ({"containers": [{"name": "p", "resources": "big"}]}, "podSpec.containers[0].resources: expected an object, got string"),
    ({"containers": [{"name": "p", "resources": {"limits": ["1"]}}]}, "podSpec.containers[0].resources.limits: expected an object"),
    ({"containers": [{"name": "p", "ports": [{"containerPort": "80"}]}]}, "podSpec.containers[0].ports[0].containerPort: expected an integer"),
    ({"containers": [], "nodeSelector": ["ssd"]}, "podSpec.nodeSelector: expected an object, got list"),
    ({"containers": [], "tolerations": {"key": "gpu"}}, "podSpec.tolerations: expected a list, got object"),
    ({"containers": [], "hostNetwork": "yes"}, "podSpec.hostNetwork: expected a boolean, got string"),
    ({"containers": [], "volumes": [{"name": "v", "emptyDir": "x"}]}, "podSpec.volumes[0].emptyDir: expected an object, got string"),
    ({"containers": [], "affinity": {"nodeAffinity": []}}, "podSpec.affinity.nodeAffinity: expected an object, got list"),
]


def test_a_well_shaped_spec_passes() -> None:
    assert k8s_pod_problem(k8s_pod_template(GOOD)) is None


@pytest.mark.parametrize(("pod_spec", "named"), MISSHAPEN)
def test_each_misshapen_field_is_named(pod_spec: dict[str, Any], named: str) -> None:
    problem = k8s_pod_problem(k8s_pod_template(pod_spec))
    assert problem is not None and problem.startswith("taskTemplate.k8sPod." + named.split(":")[0])
    assert named.split(": ", 1)[1].split(",")[0] in problem


@pytest.mark.parametrize(("pod_spec", "named"), MISSHAPEN)
def test_the_action_ends_invalid_spec_with_that_message(pod_spec: dict[str, Any], named: str) -> None:
    body = taskaction(spec_=spec(k8s_pod_template(pod_spec)))
    plan = reconcile_task(body, None, None, NOW, Settings(read_outputs=False))
    assert plan.create_pod is None
    assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", c.REASON_INVALID_SPEC)
    assert plan.status_patch["errorState"]["code"] == c.REASON_INVALID_SPEC
    assert named.split(":")[0] in plan.status_patch["errorState"]["message"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["name", "image", "env", "args", "x"]), inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["containers", "initContainers", "volumes", "nodeSelector", "hostNetwork", "other"]), json_values))
def test_any_json_either_passes_or_is_named_never_raises(pod_spec: dict[str, Any]) -> None:
    problem = pod_spec_problem(pod_spec, "podSpec")
    assert problem is None or problem.startswith("podSpec")


container_values = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["primary", "side"]) | json_values,
        "image": st.just("busybox") | json_values,
        "args": st.lists(st.text(max_size=3), max_size=2) | json_values,
        "env": st.lists(st.fixed_dictionaries({"name": st.just("A")}, optional={"value": json_values}), max_size=2) | json_values,
        "resources": st.fixed_dictionaries({}, optional={"limits": json_values, "requests": json_values}) | json_values,
    },
)


@given(
    st.fixed_dictionaries(
        {"containers": st.lists(container_values, max_size=2) | json_values},
        optional={"initContainers": st.lists(container_values, max_size=1) | json_values, "volumes": json_values},
    )
)
def test_any_pod_spec_gives_a_plan_never_an_exception(pod_spec: dict[str, Any]) -> None:
    """The decision on a k8s_pod target never raises, whatever the spec holds: it builds a pod or names a fault."""
    body = taskaction(spec_=spec(k8s_pod_template(pod_spec)))
    plan = reconcile_task(body, None, None, NOW, Settings(read_outputs=False))
    assert plan.create_pod is not None or cond_tuple(plan.status_patch, "Failed")[0] == "True"
