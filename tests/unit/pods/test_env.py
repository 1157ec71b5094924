"""The env appended to every container (pods-and-bundles.md §2.5, DecorateEnvVars): order, values, the four task
variables the spec cannot override, the zero-based attempt number."""

from __future__ import annotations

import pytest

from taskaction_operator.settings import Settings

from ..builders import RUN_BASE, task_template
from .pod_builders import SDK_ARGS, env_of, make


class TestEnv:
    def test_order_and_values(self) -> None:
        template = task_template(args=SDK_ARGS, env={"USER_VAR": "1", "LOG_LEVEL": "20"})
        pod = make(
            template,
            envVars={"_F_SYS_PATH": "/root", "ACTION_NAME": "evil", "RUN_NAME": "evil", "_U_RUN_BASE": "evil", "_U_ORG_NAME": "evil"},
            settings=Settings(default_env_vars={"_U_EP_OVERRIDE": "flyte-http.flyte:8090", "_U_USE_ACTIONS": "1"}),
        )
        assert env_of(pod["spec"]["containers"][0]) == [
            ("USER_VAR", "1"),
            ("LOG_LEVEL", "20"),
            ("FLYTE_INTERNAL_EXECUTION_ID", "rabc123"),
            ("FLYTE_INTERNAL_EXECUTION_PROJECT", "flytesnacks"),
            ("FLYTE_INTERNAL_EXECUTION_DOMAIN", "development"),
            ("_F_PN", {"fieldRef": {"fieldPath": "metadata.name"}}),
            ("FLYTE_ATTEMPT_NUMBER", "0"),
            ("FLYTE_INTERNAL_TASK_PROJECT", "flytesnacks"),
            ("FLYTE_INTERNAL_TASK_DOMAIN", "development"),
            ("FLYTE_INTERNAL_TASK_NAME", "my_module.say_hello"),
            ("FLYTE_INTERNAL_TASK_VERSION", "v1"),
            ("FLYTE_INTERNAL_PROJECT", "flytesnacks"),
            ("FLYTE_INTERNAL_DOMAIN", "development"),
            ("FLYTE_INTERNAL_NAME", "my_module.say_hello"),
            ("FLYTE_INTERNAL_VERSION", "v1"),
            ("ACTION_NAME", "a0"),
            ("RUN_NAME", "rabc123"),
            ("_U_RUN_BASE", RUN_BASE),
            ("_U_ORG_NAME", "local"),
            ("_F_SYS_PATH", "/root"),
            ("_U_EP_OVERRIDE", "flyte-http.flyte:8090"),
            ("_U_USE_ACTIONS", "1"),
        ]

    def test_spec_env_vars_cannot_override_the_four_task_vars(self) -> None:
        env = env_of(
            make(envVars={"ACTION_NAME": "x", "RUN_NAME": "x", "_U_RUN_BASE": "x", "_U_ORG_NAME": "x", "OK": "y"})["spec"][
                "containers"
            ][0]
        )
        names = [n for n, _ in env]
        for name in ("ACTION_NAME", "RUN_NAME", "_U_RUN_BASE", "_U_ORG_NAME"):
            assert names.count(name) == 1, name
        assert dict(env)["ACTION_NAME"] == "a0" and dict(env)["_U_ORG_NAME"] == "local"
        assert ("OK", "y") in env

    @pytest.mark.parametrize(("attempt", "number"), [(1, "0"), (2, "1"), (4, "3")])
    def test_attempt_number_is_zero_based(self, attempt: int, number: str) -> None:
        assert dict(env_of(make(attempt=attempt)["spec"]["containers"][0]))["FLYTE_ATTEMPT_NUMBER"] == number
