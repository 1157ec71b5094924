"""The log-link configuration of the Flyte executor's pod plugin: the shape of its `plugins.logs` section
(flyteplugins go/tasks/logs LogConfig, pluginmachinery/tasklog TemplateLogPlugin), with upstream's defaults. A
setting of the operator (TASKACTION_LOGS); reporting/log_links.py builds the links from it."""

from __future__ import annotations

from typing import Any, Literal

from flyteidl2.core import execution_pb2
from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_KUBERNETES_TEMPLATE_URI = "http://localhost:30082/#!/log/{{ .namespace }}/{{ .podName }}/pod?namespace={{ .namespace }}"


class TemplateLogPlugin(BaseModel):
    """tasklog.TemplateLogPlugin, an entry of `templates`."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    name: str = ""
    display_name: str = Field("", alias="displayName")
    template_uris: list[str] = Field(default_factory=list, alias="templateUris")
    message_format: int = Field(execution_pb2.TaskLog.UNKNOWN, alias="messageFormat")
    scheme: str | None = Field(None, description="Deprecated upstream and ignored, as there.")
    show_while_pending: bool = Field(False, alias="showWhilePending")
    hide_once_finished: bool = Field(False, alias="hideOnceFinished")
    link_type: Literal["", "external", "dashboard", "ide", "EXTERNAL", "DASHBOARD", "IDE"] = Field("", alias="linkType")
    icon_uri: str = Field("", alias="iconUri")

    @field_validator("message_format", mode="before")
    @classmethod
    def _message_format_by_name(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.isdigit():
            return execution_pb2.TaskLog.MessageFormat.Value(value.upper())
        return value


class LogConfig(BaseModel):
    """flyteplugins logs.LogConfig with its defaults: a Kubernetes dashboard link on localhost:30082."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    cloudwatch_enabled: bool = Field(False, alias="cloudwatch-enabled")
    cloudwatch_region: str = Field("", alias="cloudwatch-region")
    cloudwatch_log_group: str = Field("", alias="cloudwatch-log-group")
    cloudwatch_template_uri: str = Field("", alias="cloudwatch-template-uri")
    kubernetes_enabled: bool = Field(True, alias="kubernetes-enabled")
    kubernetes_url: str = Field("", alias="kubernetes-url")
    kubernetes_template_uri: str = Field(DEFAULT_KUBERNETES_TEMPLATE_URI, alias="kubernetes-template-uri")
    stackdriver_enabled: bool = Field(False, alias="stackdriver-enabled")
    gcp_project: str = Field("", alias="gcp-project")
    stackdriver_logresourcename: str = Field("", alias="stackdriver-logresourcename")
    stackdriver_template_uri: str = Field("", alias="stackdriver-template-uri")
    templates: list[TemplateLogPlugin] = Field(default_factory=list)
