"""The actions service's token in a task pod: projected with the service's audience into every container, with the
env that makes the Flyte SDK send it, unless the default env vars say otherwise; nothing of it when
TASKACTION_ACTIONS_SERVICE_POD_TOKEN is off, or, unset, when this process serves no actions service with auth (the
pod of another control plane's task stays as upstream builds it)."""

from __future__ import annotations

import json

from taskaction_operator.pods.actions_token import TOKEN_FILE
from taskaction_operator.settings import Settings

from ..builders import task_template
from .pod_builders import SDK_ARGS, env_of, make


def test_every_container_mounts_a_token_of_the_services_audience() -> None:
    pod = make(settings=Settings(actions_service_token_audience="my-actions", actions_service_pod_token=True))
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "taskaction-actions-token"]
    assert volume["projected"]["sources"] == [{"serviceAccountToken": {"audience": "my-actions", "expirationSeconds": 3600, "path": "token"}}]
    for container in pod["spec"]["containers"]:
        assert {"name": "taskaction-actions-token", "mountPath": "/var/run/secrets/taskaction/actions", "readOnly": True} in container["volumeMounts"]
        env = dict(env_of(container))
        assert env["FLYTE_AUTH_TYPE"] == "ExternalCommand"
        assert json.loads(env["FLYTE_AUTH_COMMAND"]) == ["cat", TOKEN_FILE]


def test_the_default_env_vars_may_set_another_command() -> None:
    python = '["python3", "-c", "print(open(\'/var/run/secrets/taskaction/actions/token\').read())"]'
    pod = make(task_template(args=SDK_ARGS), settings=Settings(default_env_vars={"FLYTE_AUTH_COMMAND": python}, actions_service_pod_token=True))
    env = env_of(pod["spec"]["containers"][0])
    assert [value for name, value in env if name == "FLYTE_AUTH_COMMAND"] == [python]
    assert ("FLYTE_AUTH_TYPE", "ExternalCommand") in env


def test_no_token_when_switched_off() -> None:
    pod = make(settings=Settings(actions_service_pod_token=False))
    assert "taskaction-actions-token" not in [v["name"] for v in pod["spec"].get("volumes") or []]
    assert not {"FLYTE_AUTH_TYPE", "FLYTE_AUTH_COMMAND"} & {name for name, _ in env_of(pod["spec"]["containers"][0])}


def test_unset_it_follows_the_actions_service_this_process_serves() -> None:
    assert Settings(actions_service_address="127.0.0.1:8090").pods_get_actions_token
    assert not Settings(actions_service_address="127.0.0.1:8090", actions_service_auth=False).pods_get_actions_token
    assert not Settings().pods_get_actions_token  # no actions service here: another control plane's
    pod = make()
    assert "taskaction-actions-token" not in [v["name"] for v in pod["spec"].get("volumes") or []]
