"""Log links as flyteplugins' logs package builds them from a `plugins.logs` configuration."""

from __future__ import annotations

from datetime import timedelta

from flyteidl2.core import execution_pb2, identifier_pb2, tasks_pb2

from taskaction_operator.api.times import rfc3339
from taskaction_operator.api.log_config import LogConfig
from taskaction_operator.reporting import log_links as ll
from tests.unit import builders as b

INPUT = ll.LogInput(
    pod_name="r1-a0-0",
    namespace="flyte",
    container_name="r1-a0-0",
    pod_start=b.CREATED,
    pod_finish=b.NOW,
    run_name="r1",
    action_name="a0",
    project="demo",
    domain="development",
    retry_attempt=0,
    task_id=identifier_pb2.Identifier(name="my.task", version="v7", project="demo", domain="development"),
    container_id="containerd://abc123",
    pod_uid="uid-1",
    hostname="host-1",
)


def uris(config: LogConfig, template: tasks_pb2.TaskTemplate | None = None, i: ll.LogInput = INPUT) -> list[tuple[str, str]]:
    return [(log.name, log.uri) for log in ll.task_logs(config, template, i)]


def test_the_default_is_upstreams_kubernetes_dashboard_link() -> None:
    assert ll.task_logs(LogConfig(), None, INPUT) == [
        execution_pb2.TaskLog(
            uri="http://localhost:30082/#!/log/flyte/r1-a0-0/pod?namespace=flyte", name="Kubernetes Logs", message_format=execution_pb2.TaskLog.JSON, ready=True
        )
    ]


def test_cloudwatch_and_stackdriver_defaults_from_their_deprecated_fields() -> None:
    config = LogConfig.model_validate(
        {
            "kubernetes-enabled": False,
            "cloudwatch-enabled": True,
            "cloudwatch-region": "eu-west-1",
            "cloudwatch-log-group": "/eks/flyte",
            "stackdriver-enabled": True,
            "gcp-project": "proj",
            "stackdriver-logresourcename": "k8s_container",
        }
    )
    assert uris(config) == [
        (
            "Cloudwatch Logs",
            "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEventViewer:group=/eks/flyte;"
            "stream=var.log.containers.r1-a0-0_flyte_r1-a0-0-abc123.log",  # the runtime prefix is stripped
        ),
        (
            "Google Cloud Logs",
            "https://console.cloud.google.com/logs/viewer?project=proj&angularJsUrl=%2Flogs%2Fviewer%3Fproject%3Dproj"
            "&resource=k8s_container&advancedFilter=resource.labels.pod_name%3Dr1-a0-0",
        ),
    ]


def test_kubernetes_url_builds_the_link_when_no_template_is_given() -> None:
    config = LogConfig.model_validate({"kubernetes-url": "https://dash", "kubernetes-template-uri": ""})
    assert uris(config) == [("Kubernetes Logs", "https://dash/#!/log/flyte/r1-a0-0/pod?namespace=flyte")]


def test_templates_fill_every_variable_in_any_case_and_spacing() -> None:
    template = (
        "x/{{ .podName }}/{{.namespace}}/{{ .containerName }}/{{ .containerId }}/{{ .podUID }}/{{ .hostname }}/{{ $logName }}/"
        "{{ .podUnixStartTime }}-{{ .podUnixFinishTime }}/{{ .podRFC3339StartTime }}/{{ .taskRetryAttempt }}/{{ .nodeID }}/"
        "{{ .generatedName }}/{{ .taskID }}/{{ .taskVersion }}/{{ .taskProject }}/{{ .taskDomain }}/{{ .executionName }}/"
        "{{ .runName }}/{{ .actionName }}/{{ .executionProject }}/{{ .executionDomain }}/{{ .executionOrg }}/{{ .PODNAME }}"
    )
    config = LogConfig.model_validate(
        {"kubernetes-enabled": False, "templates": [{"displayName": "Mine {{ .podName }}", "templateUris": [template], "messageFormat": "CSV", "linkType": "dashboard"}]}
    )
    [log] = ll.task_logs(config, None, INPUT)
    start, finish = int(b.CREATED.timestamp()), int(b.NOW.timestamp())
    assert log.uri == (
        f"x/r1-a0-0/flyte/r1-a0-0/abc123/uid-1/host-1/{{{{ $logName }}}}/{start}-{finish}/{rfc3339(b.CREATED)}/0/r1-a0-0/r1-a0-0/my.task/v7/demo/"
        "development/r1/r1/a0/demo/development/{{ .executionOrg }}/r1-a0-0"  # empty values stay as written, as upstream
    )
    assert (log.name, log.message_format, log.link_type) == ("Mine r1-a0-0", execution_pb2.TaskLog.CSV, execution_pb2.TaskLog.DASHBOARD)


def test_the_tasks_own_log_links_come_first_as_dashboards() -> None:
    template = b.task_template()
    template.metadata.log_links.add(name="W&B", uri="https://wandb/{{ .runName }}-{{ .actionName }}", icon_uri="https://icon")
    assert [(log.name, log.uri, log.link_type) for log in ll.task_logs(LogConfig(), template, INPUT)] == [
        ("W&B", "https://wandb/r1-a0", execution_pb2.TaskLog.DASHBOARD),
        ("Kubernetes Logs", "http://localhost:30082/#!/log/flyte/r1-a0-0/pod?namespace=flyte", execution_pb2.TaskLog.EXTERNAL),
    ]


def test_the_logged_container_is_the_pods_first_one_and_its_runtime_id() -> None:
    pod = b.pod("p-0", containers=["main", "sidecar"], container_statuses=[{**b.container_status("main"), "containerID": "containerd://c1"}])
    assert ll.logged_container(b.task_template(), "p-0", pod) == ("main", "containerd://c1")
    assert ll.logged_container(b.task_template(), "p-0", None) == ("p-0", "")
    pod_target = b.k8s_pod_template({"containers": [{"name": "init-like"}, {"name": "primary"}]})
    assert ll.logged_container(pod_target, "p-0", None) == ("init-like", "")  # the first, not the primary
    assert ll.logged_container(b.k8s_pod_template({}), "p-0", None) == ("", "")


def test_the_primary_container_follows_upstreams_order_of_precedence() -> None:
    pod = b.pod("p-0", primary=None, containers=["a", "p-0"])
    assert ll.primary_container_name(pod) == "p-0"
    pod["metadata"]["annotations"][ll.PRIMARY_CONTAINER_ANNOTATION] = "a"
    assert ll.primary_container_name(pod) == "a"
    pod["metadata"]["annotations"][ll.DEFAULT_CONTAINER_ANNOTATION] = "b"
    assert ll.primary_container_name(pod) == "b"
    assert ll.primary_container_name(b.pod("q-0", primary=None, containers=["x", "y"])) == "x"


def test_finish_time_follows_the_event() -> None:
    later = ll.LogInput(**{**INPUT.__dict__, "pod_finish": b.NOW + timedelta(seconds=5)})
    config = LogConfig.model_validate({"kubernetes-template-uri": "{{ .podUnixFinishTime }}"})
    assert uris(config, i=later) == [("Kubernetes Logs", str(int(b.NOW.timestamp()) + 5))]
