"""Log links of an attempt, as the Flyte executor's pod plugin builds them: flyteplugins go/tasks/logs
(InitializeLogPlugins, GetLogsForContainerInPod) and pluginmachinery/tasklog (TemplateLogPlugin.GetTaskLogs, the
`{{ .var }}` template variables), from the configuration in api/log_config.py.

Not ported: `dynamic-log-links` (they depend on the IDE / task-config link types of plugins this operator does not
have) and `azure-log-templates` (their query encoding); docs/flyte-compatibility.md says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flyteidl2.core import execution_pb2, identifier_pb2, tasks_pb2
from google.protobuf import timestamp_pb2

from ..api.log_config import LogConfig, TemplateLogPlugin
from ..api.times import parse_time

KUBERNETES_DISPLAY_NAME = "Kubernetes Logs"
CLOUDWATCH_DISPLAY_NAME = "Cloudwatch Logs"
STACKDRIVER_DISPLAY_NAME = "Google Cloud Logs"
PRIMARY_CONTAINER_ANNOTATION = "primary_container_name"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


@dataclass(frozen=True)
class LogInput:
    """tasklog.Input: what the templates may refer to."""

    pod_name: str
    namespace: str
    container_name: str
    pod_start: datetime
    pod_finish: datetime
    run_name: str
    action_name: str
    project: str
    domain: str
    retry_attempt: int
    task_id: identifier_pb2.Identifier | None = None
    container_id: str = ""
    pod_uid: str = ""
    hostname: str = ""
    log_name: str = ""


def _variable(name: str) -> re.Pattern[str]:
    """tasklog.MustCreateRegex: `{{ .name }}` or `{{ $name }}`, any case, any spaces."""
    return re.compile(r"\{\{\s*[.$]" + name + r"\s*\}\}", re.IGNORECASE)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def template_vars(i: LogInput) -> list[tuple[re.Pattern[str], str]]:
    """Input.templateVars, in upstream's order. generatedName and nodeID are the pod's name (a valid DNS-1123
    subdomain already); the organization is empty in Flyte OSS, so `{{ .executionOrg }}` and `{{ .taskOrg }}`
    stay as written (an empty value is never substituted)."""
    _, sep, stripped = i.container_id.partition("://")  # fluentd drops the runtime prefix (containerd://...)
    values: list[tuple[str, str]] = [
        ("logName", i.log_name),
        ("podName", i.pod_name),
        ("podUID", i.pod_uid),
        ("namespace", i.namespace),
        ("containerName", i.container_name),
        ("containerID", stripped if sep else i.container_id),
        ("hostname", i.hostname),
        ("nodeID", i.pod_name),
        ("generatedName", i.pod_name),
        ("taskRetryAttempt", str(i.retry_attempt)),
    ]
    if i.task_id is not None:
        t = i.task_id
        values += [("taskID", t.name), ("taskVersion", t.version), ("taskOrg", t.org), ("taskProject", t.project), ("taskDomain", t.domain)]
    values += [
        ("executionName", i.run_name),
        ("runName", i.run_name),
        ("actionName", i.action_name),
        ("executionProject", i.project),
        ("executionDomain", i.domain),
        ("executionOrg", ""),
        ("podRFC3339StartTime", _rfc3339(i.pod_start)),
        ("podRFC3339FinishTime", _rfc3339(i.pod_finish)),
        ("podUnixStartTime", str(int(i.pod_start.timestamp()))),
        ("podUnixFinishTime", str(int(i.pod_finish.timestamp()))),
    ]
    return [(_VARIABLES[name], value) for name, value in values]


_VARIABLES = {
    name: _variable(name)
    for name in (
        "logName podName podUID namespace containerName containerID hostname nodeID generatedName taskRetryAttempt taskID "
        "taskVersion taskOrg taskProject taskDomain executionName runName actionName executionProject executionDomain "
        "executionOrg podRFC3339StartTime podRFC3339FinishTime podUnixStartTime podUnixFinishTime"
    ).split()
}


def render(template: str, variables: list[tuple[re.Pattern[str], str]]) -> str:
    """replaceAll: each variable with a value, literally."""
    for pattern, value in variables:
        if value:
            template = pattern.sub(lambda _: value, template)
    return template


def plugins(config: LogConfig, template: tasks_pb2.TaskTemplate | None) -> list[TemplateLogPlugin]:
    """InitializeLogPlugins: the task's own log links first (as dashboards), then the configured ones."""
    out = [
        TemplateLogPlugin(display_name=link.name, template_uris=[link.uri], message_format=link.message_format, link_type="dashboard", icon_uri=link.icon_uri)
        for link in (template.metadata.log_links if template is not None else [])
    ]
    if config.kubernetes_enabled:
        uri = config.kubernetes_template_uri or f"{config.kubernetes_url}/#!/log/{{{{ .namespace }}}}/{{{{ .podName }}}}/pod?namespace={{{{ .namespace }}}}"
        out.append(TemplateLogPlugin(display_name=KUBERNETES_DISPLAY_NAME, template_uris=[uri], message_format=execution_pb2.TaskLog.JSON))
    if config.cloudwatch_enabled:
        uri = config.cloudwatch_template_uri or (
            f"https://console.aws.amazon.com/cloudwatch/home?region={config.cloudwatch_region}#logEventViewer:group={config.cloudwatch_log_group};"
            "stream=var.log.containers.{{ .podName }}_{{ .namespace }}_{{ .containerName }}-{{ .containerId }}.log"
        )
        out.append(TemplateLogPlugin(display_name=CLOUDWATCH_DISPLAY_NAME, template_uris=[uri], message_format=execution_pb2.TaskLog.JSON))
    if config.stackdriver_enabled:
        project, resource = config.gcp_project, config.stackdriver_logresourcename
        uri = config.stackdriver_template_uri or (
            f"https://console.cloud.google.com/logs/viewer?project={project}&angularJsUrl=%2Flogs%2Fviewer%3Fproject%3D{project}"
            f"&resource={resource}&advancedFilter=resource.labels.pod_name%3D{{{{ .podName }}}}"
        )
        out.append(TemplateLogPlugin(display_name=STACKDRIVER_DISPLAY_NAME, template_uris=[uri], message_format=execution_pb2.TaskLog.JSON))
    return out + list(config.templates)


def task_logs(config: LogConfig, template: tasks_pb2.TaskTemplate | None, i: LogInput) -> list[execution_pb2.TaskLog]:
    """TemplateLogPlugin.GetTaskLogs of every plugin. As upstream, the icon is not carried into the TaskLog."""
    variables = template_vars(i)
    logs = []
    for plugin in plugins(config, template):
        link_type = execution_pb2.TaskLog.LinkType.Value(plugin.link_type.upper()) if plugin.link_type else execution_pb2.TaskLog.EXTERNAL
        for uri in plugin.template_uris:
            logs.append(
                execution_pb2.TaskLog(
                    uri=render(uri, variables),
                    name=render(plugin.display_name, variables) + render(i.log_name, variables),
                    message_format=plugin.message_format,
                    ShowWhilePending=plugin.show_while_pending,
                    HideOnceFinished=plugin.hide_once_finished,
                    link_type=link_type,
                    ready=True,
                )
            )
    return logs


# The pod side: which container, and its log context (flytek8s pod_helper.go) ------------------------------------


def primary_container_name(pod: dict[str, Any]) -> str:
    """GetPrimaryContainerName: kubectl's default container, the primary annotation, the container named like the
    pod, the first container."""
    annotations = pod["metadata"].get("annotations") or {}
    named = annotations.get(DEFAULT_CONTAINER_ANNOTATION) or annotations.get(PRIMARY_CONTAINER_ANNOTATION)
    if named:
        return named
    containers = [c.get("name") or "" for c in (pod.get("spec") or {}).get("containers") or []]
    if pod["metadata"]["name"] in containers:
        return pod["metadata"]["name"]
    return containers[0] if containers else ""


def template_primary_container(template: tasks_pb2.TaskTemplate, pod_name: str) -> str:
    """The primary container a pod of this template gets (pods/builder.py): a k8s_pod target names it, a container
    target's is named like the pod."""
    if template.HasField("k8s_pod"):
        return template.config.get("primary_container_name") or template.k8s_pod.primary_container_name
    return pod_name


def _timestamp(value: str | None) -> timestamp_pb2.Timestamp | None:
    moment = parse_time(value)
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _container_contexts(statuses: list[dict[str, Any]]) -> list[execution_pb2.ContainerContext]:
    """makeContainerContexts: each container's start and end, from its state."""
    out = []
    for status in statuses:
        state = status.get("state") or {}
        process = execution_pb2.ContainerContext.ProcessContext()
        if "running" in state:
            started = _timestamp(state["running"].get("startedAt"))
            if started is not None:
                process.container_start_time.CopyFrom(started)
        if "terminated" in state:
            for field, key in (("container_start_time", "startedAt"), ("container_end_time", "finishedAt")):
                stamp = _timestamp(state["terminated"].get(key))
                if stamp is not None:
                    getattr(process, field).CopyFrom(stamp)
        out.append(execution_pb2.ContainerContext(container_name=status.get("name") or "", process=process))
    return out


def log_context(namespace: str, pod_name: str, primary_container: str, pod: dict[str, Any] | None) -> execution_pb2.LogContext:
    """The LogContext of an attempt's pod (BuildPodLogContext); the containers' times only while the pod is known."""
    context = execution_pb2.PodLogContext(namespace=namespace, pod_name=pod_name, primary_container_name=primary_container)
    if pod is not None:
        status = pod.get("status") or {}
        context.containers.extend(_container_contexts(status.get("containerStatuses") or []))
        context.init_containers.extend(_container_contexts(status.get("initContainerStatuses") or []))
    return execution_pb2.LogContext(primary_pod_name=pod_name, pods=[context])


def logged_container(template: tasks_pb2.TaskTemplate, pod_name: str, pod: dict[str, Any] | None) -> tuple[str, str]:
    """The container the links are for and its runtime id: upstream takes the pod's first container (index 0), not
    the primary one. Without the pod, the first container its template gives it."""
    if pod is not None:
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        return containers[0].get("name") or "", statuses[0].get("containerID") or ""
    if template.HasField("k8s_pod"):
        fields = template.k8s_pod.pod_spec.fields
        containers = fields["containers"].list_value.values if "containers" in fields else []
        first = containers[0].struct_value.fields if containers else {}
        return (first["name"].string_value if "name" in first else ""), ""
    return pod_name, ""
