"""Operator settings, from environment variables prefixed TASKACTION_ (lists and maps as JSON)."""

from __future__ import annotations

import json
import socket
import sys
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AliasChoices, Field, StringConstraints, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from .api.constants import DNS1123_LABEL_PATTERN
from .api.log_config import LogConfig

# Exact names, no patterns: the operator watches each one directly (see controller/handlers.py, startup).
NamespaceName = Annotated[str, StringConstraints(pattern=DNS1123_LABEL_PATTERN, max_length=63)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASKACTION_", extra="ignore", populate_by_name=True)

    # Scope and scale.
    namespaces: list[NamespaceName] = Field(default_factory=list, description="Namespaces to watch, by name; empty means all.")
    max_concurrent_reconciles: int = Field(64, ge=1, description="TaskActions reconciled at once.")
    api_qps: float = Field(
        500.0, gt=0, description="Client-side request rate limit to the API server (about 6 requests per action: 50 actions/s take 300)."
    )
    api_burst: int = Field(1000, ge=1, description="Requests allowed at once above api_qps (token bucket size).")
    max_inflight_requests: int = Field(
        32, ge=1, description="Concurrent API requests of the operator's client (each holds a TLS connection, about 300 KiB)."
    )
    resync_seconds: float = Field(60.0, gt=0, description="Re-check of an unfinished action even without events.")
    max_running_per_namespace: int = Field(
        0, ge=0, description="Pods of unfinished attempts in one namespace at most; more actions wait Queued. 0: no limit."
    )
    max_running_per_run: int = Field(0, ge=0, description="Pods of unfinished attempts in one run at most; 0: no limit.")
    pod_create_qps: float = Field(
        0.0, ge=0, description="Pods created per second at most (a worker waits for its turn); 0: no limit beyond api_qps."
    )
    pod_create_burst: int = Field(10, ge=1, description="Pod creates allowed at once above pod_create_qps.")
    api_timeout_seconds: float = Field(
        30.0, gt=0, description="Bound on one API request (a half-open connection must not hang a worker)."
    )
    ghost_sweep_seconds: float = Field(
        600.0, gt=0, description="Compare the stores with a listing at least this often (also after every watch relist)."
    )

    tracing_otlp_endpoint: str | None = Field(
        None,
        description="OpenTelemetry: a span per reconcile (and per API request in it) exported to this OTLP/HTTP traces "
        "endpoint, e.g. http://otel-collector:4318/v1/traces; unset: no tracing (needs the `tracing` extra).",
    )

    # Retries and timeouts.
    max_system_failures: int = Field(3, ge=0, description="Consecutive system failures tolerated; 0 means 3, as upstream.")
    parent_wait_seconds: float = Field(300.0, ge=0, description="How long a child waits for its parent TaskAction.")
    retry_backoff_seconds: float = Field(
        0.0, ge=0, description="Wait before a user retry's attempt: this, doubled for each further attempt; 0: at once, as upstream."
    )
    retry_backoff_max_seconds: float = Field(300.0, ge=0, description="The longest wait before a user retry.")
    image_pull_backoff_grace_seconds: float = Field(180.0, description="How long a container in ImagePullBackOff is waited for before a retryable failure.")
    create_container_error_grace_seconds: float = Field(180.0, description="How long CreateContainerError is waited for before a permanent failure.")
    create_container_config_error_grace_seconds: float = Field(0.0, description="Likewise for CreateContainerConfigError (0: at once).")
    pod_pending_timeout_seconds: float = Field(0.0, description="A pod Pending this long is a system failure (PodPendingTimeout); 0 disables, as upstream.")
    storage_wait_seconds: float = Field(
        300.0, ge=0, description="How long a store that cannot be read (inputs.pb, error.pb, outputs.pb) is asked again before the action fails."
    )

    # Garbage collection of finished actions (flyte.org/completed-time older than the TTL).
    gc_interval_seconds: float = Field(1800.0, ge=0, description="Sweep interval; 0 disables the collector.")
    gc_ttl_seconds: float = Field(3600.0, description="Age after completion; <= 0 deletes at the next sweep.")
    gc_page_size: int = Field(500, ge=1, description="TaskActions per list page of a sweep.")

    # Object storage the operator reads error.pb / outputs.pb from when a pod succeeds.
    read_outputs: bool = Field(True, description="Check error.pb and outputs.pb of a succeeded pod.")
    storage_schemes: list[str] = Field(
        default_factory=lambda: ["s3", "gs", "abfs", "abfss"],
        description="The schemes of the storage the operator reads for a TaskAction (never file:// or http:// on its behalf).",
    )
    storage_endpoint: str | None = Field(None, description="S3 endpoint URL (SeaweedFS, MinIO...); None means AWS.")
    storage_region: str | None = Field(None, description="S3 region.")
    storage_access_key_id: str | None = Field(None, description="S3 credentials; unset: AWS_* / FLYTE_AWS_* of the environment, else IRSA, ECS/EKS Pod Identity or instance metadata (obstore's chain: never ~/.aws files).")
    storage_secret_access_key: str | None = Field(None, repr=False, description="S3 credentials (with storage_access_key_id).")

    # Code bundles of templates whose container does not fetch its own (no --tgz): an init container does.
    bootstrap_image: str = Field("ghcr.io/taskaction-operator/taskaction-runtime:0.1.0", description="Image with taskaction-bootstrap (Dockerfile target runtime).")
    bootstrap_cache_host_path: str | None = Field(None, description="hostPath shared by the pods of a node as the bundle cache.")

    # CoPilot of raw containers (the SDK's ContainerTask): fetches their inputs, uploads their outputs (pods/copilot.py).
    copilot_image: str = Field(
        "cr.flyte.org/flyteorg/flyte-binary-v2:latest", description="Image with /bin/flyte-copilot (upstream's default: the single binary's)."
    )
    copilot_cpu: str = Field("500m", description="CPU request and limit of each CoPilot container.")
    copilot_memory: str = Field("128Mi", description="Memory request and limit of each CoPilot container.")
    copilot_timeout_seconds: float = Field(3600.0, gt=0, description="Bound on the upload of outputs; also the pod's termination grace.")

    # Storage as task pods see it: endpoint and region as env, credentials from a Secret by reference.
    pod_storage_endpoint: str | None = Field(None, description="S3 endpoint as task pods see it (their FLYTE_AWS_ENDPOINT).")
    pod_storage_region: str | None = Field(None, description="S3 region of task pods.")
    pod_storage_secret: str | None = Field(None, description="Secret with keys access-key-id and secret-access-key.")

    # Pods.
    default_pod_template_name: str | None = Field(None, description="PodTemplate used as the base of every pod.")
    pod_template_namespace: str | None = Field(
        None, description="Where a PodTemplate is looked up when the task's namespace has none (the operator's own)."
    )
    default_cpu: str = Field("1000m", description="CPU request of a container whose template sets none.")
    default_memory: str = Field("1024Mi", description="Memory request of a container whose template sets none.")
    gpu_resource_name: str = Field("nvidia.com/gpu", description="Extended resource a template's GPU request maps to.")
    gpu_device_node_label: str = Field(
        "k8s.amazonaws.com/accelerator", description="Node label of the GPU device a task's accelerator selects (upstream's default)."
    )
    gpu_partition_size_node_label: str = Field(
        "k8s.amazonaws.com/gpu-partition-size", description="Node label of the GPU partition size (MIG) a task selects."
    )
    secret_env_var_prefix: str = Field("_UNION_", description="Prefix of the env vars of secrets (upstream's webhook.secretEnvVarPrefix).")
    image_pull_policy: str | None = Field(None, description="imagePullPolicy of containers that set none.")
    default_service_account: str | None = Field(None, description="ServiceAccount of pods whose task names none.")
    # The pod policy (pods/policy.py, docs/security.md), checked on every pod before it is created.
    pod_security_level: str = Field(
        "baseline", pattern="^(privileged|baseline|restricted)$", description="Pod Security Standards level a task's pod must meet."
    )
    pod_service_accounts: list[str] = Field(
        default_factory=list,
        description='ServiceAccounts a pod may run as besides the namespace\'s "default" and default_service_account; "*": any.',
    )
    default_labels: dict[str, str] = Field(default_factory=dict, description="Labels of every task pod.")
    default_annotations: dict[str, str] = Field(
        default_factory=lambda: {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}, description="Annotations of every task pod."
    )
    default_env_vars: dict[str, str] = Field(default_factory=dict, description="Env of every task container.")
    scheduler_name: str | None = Field(None, description="schedulerName of pods that set none.")
    interruptible_tolerations: list[dict] = Field(default_factory=list, description="Tolerations added to pods of interruptible tasks.")
    interruptible_node_selector: dict[str, str] = Field(default_factory=dict, description="nodeSelector of pods of interruptible tasks.")
    default_node_selector: dict[str, str] = Field(default_factory=dict, description="nodeSelector of every task pod.")
    default_tolerations: list[dict] = Field(default_factory=list, description="Tolerations of every task pod.")

    # High availability: one replica leads (a coordination.k8s.io Lease), the others wait to take over.
    leader_election: bool = Field(False, description="Run only while holding the Lease (set for several replicas).")
    leader_election_namespace: str = Field("default", description="Namespace of the Lease (POD_NAMESPACE in a pod).", validation_alias=AliasChoices("TASKACTION_LEADER_ELECTION_NAMESPACE", "POD_NAMESPACE"))
    leader_election_lease: str = Field("taskaction-operator", description="Name of the Lease.")
    leader_election_identity: str = Field(default_factory=socket.gethostname, description="This replica's name in the Lease (POD_NAME in a pod; default the host name).", validation_alias=AliasChoices("TASKACTION_LEADER_ELECTION_IDENTITY", "POD_NAME"))
    lease_duration_seconds: float = Field(15.0, gt=0, description="A Lease not renewed for this long is taken over.")
    lease_renew_deadline_seconds: float = Field(10.0, gt=0, description="A leader that cannot renew for this long stops (the process exits).")
    lease_retry_seconds: float = Field(2.0, gt=0, description="Interval of Lease renewals and acquisition attempts.")

    # The actions service (flyteidl2 ActionsService) that Flyte SDK parent tasks enqueue their children through.
    actions_service_address: str | None = Field(
        None, description="host:port to serve it on (e.g. 127.0.0.1:8090); None: not served by the operator."
    )
    actions_service_namespace: str = Field("flyte", description="Namespace of the TaskActions it creates and watches.")
    actions_service_auth: bool = Field(
        True, description="Callers present a ServiceAccount token (TokenReview); task pods get one projected (actions/auth.py)."
    )
    actions_service_token_audience: str = Field(
        "taskaction-actions", min_length=1, description="The audience the service accepts and task pods' tokens carry."
    )
    actions_service_pod_token: bool | None = Field(
        None,
        description="Task pods get a token of that audience and the Flyte SDK env to send it (pods/actions_token.py); "
        "None: when this process serves the actions service with auth (a pod of another control plane is left as upstream builds it).",
    )
    actions_service_auth_cache_seconds: float = Field(
        10.0, ge=0, description="How long a token's review and access decisions are reused; 0: every call asks."
    )
    actions_service_tls_cert_file: str | None = Field(None, description="PEM certificate: serve TLS (with the key file).")
    actions_service_tls_key_file: str | None = Field(
        None, validate_default=True, description="PEM private key of the TLS certificate."
    )

    # Kubernetes Events on TaskActions: "all" (one per phase entered), "failures" (Warnings only: failures, refused
    # pods, system errors), "off". A repeat of the same Event for the same action is never posted twice in a row.
    kube_events: str = Field("failures", pattern="^(all|failures|off)$", description="Kubernetes Events on TaskActions: all, failures, off.")

    # Reporting to a Flyte control plane: the ActionEvents its runs service builds attempts, outputs, errors and logs from.
    events_service_url: str | None = Field(
        None, description="Base URL of flyteidl2 EventsProxyService (e.g. http://flyte:8090); None: no events are sent."
    )
    events_cluster: str = Field("", description="ActionEvent.cluster (upstream executor.cluster).")
    abort_event_wait_seconds: float = Field(
        60.0, ge=0, description="How long a deleted action keeps its finalizer waiting for its events to be accepted."
    )
    logs: LogConfig = Field(default_factory=LogConfig, description="Log links, as the Flyte executor's plugins.logs (JSON).")

    # The task cache (`cache=` on a task): looked up before a pod is made, written back after a success.
    cache_service_url: str | None = Field(
        None, description="Base URL of flyteidl2 CacheService (e.g. http://flyte:8094); None: tasks run uncached."
    )
    cache_timeout_seconds: float = Field(10.0, gt=0, description="Bound on one call to the cache service.")
    cache_max_age_seconds: float = Field(0.0, ge=0, description="An entry older than this is a miss; 0: entries never expire.")

    # Process.
    bind_address: str = Field("127.0.0.1", description="Address of the metrics and health endpoints (0.0.0.0 in a pod).")
    metrics_port: int = Field(8080, ge=0, description="Prometheus /metrics; 0 disables.")
    health_port: int = Field(8081, ge=0, description="/healthz and /readyz of this process (health.py); 0 disables.")
    log_format: str = Field("text", pattern="^(text|json)$", description="text, or json: one JSON object per line.")
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$", description="Python log level.")

    @field_validator("actions_service_tls_key_file")
    @classmethod
    def _tls_needs_both_files(cls, key_file: str | None, info: ValidationInfo) -> str | None:
        if bool(key_file) != bool(info.data.get("actions_service_tls_cert_file")):
            raise ValueError("TLS needs both TASKACTION_ACTIONS_SERVICE_TLS_CERT_FILE and TASKACTION_ACTIONS_SERVICE_TLS_KEY_FILE")
        return key_file

    @property
    def effective_max_system_failures(self) -> int:
        return self.max_system_failures or 3

    @property
    def pods_get_actions_token(self) -> bool:
        if self.actions_service_pod_token is not None:
            return self.actions_service_pod_token
        return self.actions_service_address is not None and self.actions_service_auth


def load_settings() -> Settings:
    """The settings of a process's entry point: an invalid one ends it (exit 2) with one line per variable."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            variable = f"TASKACTION_{str(error['loc'][0]).upper()}"
            where = "".join(f"[{part}]" for part in error["loc"][1:])
            print(f"invalid setting {variable}{where}: {error['msg']} (got {error['input']!r})", file=sys.stderr)
        sys.exit(2)


# The settings reference, docs/settings.md, generated from the fields above so that it cannot drift
# (`python -m taskaction_operator.settings --markdown > docs/settings.md`; tests/unit/test_settings.py compares).
_DYNAMIC_DEFAULTS = {"leader_election_identity": "the host name"}


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        return " or ".join(_type_name(arg) for arg in args if arg is not type(None)) + ", optional"
    if origin is Annotated:
        return "name"
    if origin is list:
        return f"JSON list of {_type_name(args[0])}"
    if origin is dict:
        return f"JSON map of {_type_name(args[1])}"
    return "JSON object" if annotation is LogConfig else annotation.__name__


def _default(name: str, field: FieldInfo) -> str:
    if name in _DYNAMIC_DEFAULTS:
        return _DYNAMIC_DEFAULTS[name]
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, LogConfig):
        return "upstream's (a Kubernetes dashboard link)"
    if isinstance(value, (list, dict, bool)) or value == "":
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def markdown() -> str:
    lines = [
        "# Settings",
        "",
        "<!-- Generated by `python -m taskaction_operator.settings --markdown > docs/settings.md` from",
        "operator/taskaction_operator/settings.py; tests/unit/test_settings.py fails when this file differs. -->",
        "",
        "Every setting of the operator is an environment variable `TASKACTION_<NAME>`; lists and maps are JSON",
        "(`TASKACTION_NAMESPACES='[\"team-a\"]'`). An invalid value ends the process at start-up with one line per",
        "variable. The Helm chart maps the common ones to values ([charts/taskaction-operator](../charts/taskaction-operator/README.md#values));",
        "`extraEnv` passes any other.",
        "",
        "| variable | type | default | what |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        variable = f"`TASKACTION_{name.upper()}`"
        aliases = [a for a in getattr(field.validation_alias, "choices", []) if not a.startswith("TASKACTION_")]
        if aliases:
            variable += " (or " + ", ".join(f"`{a}`" for a in aliases) + ")"
        what = (field.description or "").replace("|", "\\|")
        lines.append(f"| {variable} | {_type_name(field.annotation)} | {_default(name, field)} | {what} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m taskaction_operator.settings --markdown")
    sys.stdout.write(markdown())
