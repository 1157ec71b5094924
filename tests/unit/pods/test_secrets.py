"""Secrets injected into the pod as Flyte's secret webhook injects them with its K8s injector (flyteplugins
pluginmachinery/secret k8s_secrets.go): the names and paths the task finds them under."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flyteidl2.core import security_pb2

from taskaction_operator.pods.errors import BadTaskSpecification
from taskaction_operator.settings import Settings

from ..builders import k8s_pod_template, task_template
from .pod_builders import env_of, make

ENV_VAR = security_pb2.Secret.ENV_VAR
FILE = security_pb2.Secret.FILE


def with_secrets(*secrets: security_pb2.Secret, template=None):
    template = template if template is not None else task_template()
    template.security_context.secrets.extend(secrets)
    return template


def first_env(container: dict[str, Any], count: int) -> list[tuple[str, Any]]:
    return env_of(container)[:count]


class TestEnvVar:
    def test_the_sdk_default_secret_is_read_from_its_env_var(self) -> None:
        """`@task(secrets="openai-key")`: Secret{key: openai-key, env_var: OPENAI_KEY, ENV_VAR}, no group."""
        pod = make(with_secrets(security_pb2.Secret(key="openai-key", env_var="OPENAI_KEY", mount_requirement=ENV_VAR)))
        group = hashlib.md5(b"openai-key").hexdigest()
        ref = {"secretKeyRef": {"name": group, "key": "openai-key", "optional": True}}
        (container,) = pod["spec"]["containers"]
        assert first_env(container, 3) == [
            ("FLYTE_SECRETS_ENV_PREFIX", "_UNION_"),
            ("OPENAI_KEY", ref),
            (f"_UNION_{group.upper()}_OPENAI-KEY", ref),
        ]
        assert "volumes" not in pod["spec"]

    def test_a_group_names_the_secret(self) -> None:
        pod = make(with_secrets(security_pb2.Secret(group="db", key="password", mount_requirement=ENV_VAR)))
        env = dict(env_of(pod["spec"]["containers"][0]))
        assert env["_UNION_DB_PASSWORD"] == {"secretKeyRef": {"name": "db", "key": "password", "optional": True}}

    def test_the_prefix_is_a_setting(self) -> None:
        pod = make(with_secrets(security_pb2.Secret(group="db", key="pw", mount_requirement=ENV_VAR)), settings=Settings(secret_env_var_prefix="_FSEC_"))
        env = dict(env_of(pod["spec"]["containers"][0]))
        assert "_FSEC_DB_PW" in env and env["FLYTE_SECRETS_ENV_PREFIX"] == "_FSEC_"

    def test_a_task_env_var_of_the_same_name_is_replaced(self) -> None:
        template = with_secrets(security_pb2.Secret(group="db", key="pw", env_var="PW", mount_requirement=ENV_VAR), template=task_template(env={"PW": "plain"}))
        names = [n for n, _ in env_of(make(template)["spec"]["containers"][0])]
        assert names.count("PW") == 1 and names.index("PW") == 1


class TestFile:
    def test_mounted_at_etc_flyte_secrets_group_key(self) -> None:
        pod = make(with_secrets(security_pb2.Secret(group="Creds", key="Token", env_var="TOKEN_FILE", mount_requirement=FILE)))
        (volume,) = pod["spec"]["volumes"]
        assert volume["secret"] == {"secretName": "Creds", "items": [{"key": "Token", "path": "token"}], "optional": True}
        (container,) = pod["spec"]["containers"]
        assert {"name": volume["name"], "readOnly": True, "mountPath": "/etc/flyte/secrets/creds"} in container["volumeMounts"]
        assert first_env(container, 3) == [
            ("TOKEN_FILE", "/etc/flyte/secrets/creds/token"),
            ("FLYTE_SECRETS_FILE_PREFIX", ""),
            ("FLYTE_SECRETS_DEFAULT_DIR", "/etc/flyte/secrets"),
        ]

    def test_the_volume_name_is_the_base32_of_group_and_version(self) -> None:
        pod = make(with_secrets(security_pb2.Secret(group="g", key="k", mount_requirement=FILE)))
        # base32("g_") is M5PQ; in Flyte's alphabet (a-z then 1-6 for 2-7), without padding: m4pq.
        assert pod["spec"]["volumes"][0]["name"] == "m4pq"

    def test_any_is_a_file_and_two_keys_of_one_secret_share_a_volume(self) -> None:
        pod = make(with_secrets(security_pb2.Secret(group="g", key="a"), security_pb2.Secret(group="g", key="b", mount_requirement=FILE)))
        (volume,) = pod["spec"]["volumes"]
        assert volume["secret"]["items"] == [{"key": "a", "path": "a"}, {"key": "b", "path": "b"}]
        mounts = pod["spec"]["containers"][0]["volumeMounts"]
        assert [m for m in mounts if m["name"] == volume["name"]] == [{"name": volume["name"], "readOnly": True, "mountPath": "/etc/flyte/secrets/g"}]
        names = [n for n, _ in env_of(pod["spec"]["containers"][0])]
        assert names.count("FLYTE_SECRETS_DEFAULT_DIR") == 1


def test_every_container_and_init_container_gets_them() -> None:
    pod_spec = {"containers": [{"name": "primary", "image": "i"}, {"name": "side", "image": "j"}], "initContainers": [{"name": "prep", "image": "k"}]}
    pod = make(with_secrets(security_pb2.Secret(group="g", key="k", mount_requirement=ENV_VAR), template=k8s_pod_template(pod_spec)))
    for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        assert "_UNION_G_K" in dict(env_of(container)), container["name"]


def test_a_secret_without_a_key_is_refused() -> None:
    with pytest.raises(BadTaskSpecification, match="key"):
        make(with_secrets(security_pb2.Secret(group="g")))
