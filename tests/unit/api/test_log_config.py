"""The log-link configuration: the Flyte executor's plugins.logs keys and defaults, strictly."""

from __future__ import annotations

import pytest
from flyteidl2.core import execution_pb2
from pydantic import ValidationError

from taskaction_operator.api.log_config import DEFAULT_KUBERNETES_TEMPLATE_URI, LogConfig


def test_the_defaults_are_upstreams() -> None:
    config = LogConfig()
    assert (config.kubernetes_enabled, config.kubernetes_template_uri) == (True, DEFAULT_KUBERNETES_TEMPLATE_URI)
    assert not config.cloudwatch_enabled and not config.stackdriver_enabled and config.templates == []


def test_the_keys_are_upstreams_and_a_misspelt_one_is_refused() -> None:
    config = LogConfig.model_validate({"cloudwatch-enabled": True, "templates": [{"displayName": "x", "templateUris": ["u"], "messageFormat": "json"}]})
    assert config.cloudwatch_enabled and config.templates[0].message_format == execution_pb2.TaskLog.JSON
    with pytest.raises(ValidationError):
        LogConfig.model_validate({"cloudwatch_enabld": True})
    with pytest.raises(ValidationError):
        LogConfig.model_validate({"templates": [{"displayName": "x", "linkType": "sidebar"}]})
