"""TaskTemplate -> Pod, following flyteplugins' pod plugin as the Flyte executor runs it (flytek8s pod_helper.go
ApplyFlytePodConfiguration, UpdatePod): the pod's identity, labels, annotations and spec, each container's rendered
args, with the env of `env`, the primary's requests and limits of `resources`, a raw container's CoPilot of `copilot`
and the bundle's init container of `bundle_init`; then merged onto the pod template, if any.

Pure: a dict in Kubernetes JSON shape comes out of the TaskAction, its decoded template, the attempt and the
settings. Nothing here talks to the API server.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from flyteidl2.core import tasks_pb2
from google.protobuf import text_format
from google.protobuf.json_format import MessageToDict

from ..api import constants as c
from ..api.json_values import map_leaves
from ..api.owners import controller_reference
from ..api.decoding import SpecError
from ..api.models import TaskAction
from ..settings import Settings
from ..storage import paths
from . import templating
from .actions_token import add_actions_token
from .bundle_init import add_bundle_bootstrap, fetches_its_own_bundle, reserved_name_problem
from .copilot import add_copilot
from .deadline import active_deadline_seconds
from .env import env_var, flyte_env, storage_env
from .extended_resources import apply_extended_resources, gpu_accelerator, gpu_resource_name
from .naming import container_name, pod_name, retry_index, sanitize_label_value
from .phase import PRIMARY_CONTAINER_ANNOTATION
from .podtemplate import merge_onto_template
from .resources import own_resources, resources
from .secrets import flyte_base32, inject_secrets, secrets_of

# kubectl's copy of the whole applied object (taskTemplate included) would double the pod's size for nothing.
NOT_COPIED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


@dataclass(frozen=True)
class PodContext:
    """Everything about one attempt that the pod's identity and paths depend on."""

    namespace: str
    name: str
    uid: str
    attempt: int  # 1-based
    output_prefix: str
    input_prefix: str
    prev_checkpoint: str

    @property
    def pod_name(self) -> str:
        return pod_name(self.name, self.attempt)


def pod_context(ta: TaskAction, attempt: int) -> PodContext:
    meta = ta.metadata
    spec = ta.spec
    ns, name = meta["namespace"], meta["name"]
    try:
        output = paths.action_output_prefix(ns, name, spec.run_output_base or "", spec.action_name, attempt)
        prev = (
            paths.checkpoint_prefix(paths.action_output_prefix(ns, name, spec.run_output_base or "", spec.action_name, attempt - 1))
            if attempt >= 2
            else '""'
        )
    except ValueError as exc:
        raise SpecError(f"runOutputBase: {exc}") from exc
    return PodContext(
        namespace=ns,
        name=name,
        uid=meta.get("uid", ""),
        attempt=attempt,
        output_prefix=output,
        input_prefix=paths.input_prefix(spec.input_uri or ""),
        prev_checkpoint=prev,
    )


def labels(ta: TaskAction, template: tasks_pb2.TaskTemplate, ctx: PodContext, settings: Settings) -> dict[str, str]:
    spec = ta.spec
    injected = {
        "organization": "flyte",
        "project": spec.project,
        "domain": spec.domain,
        c.LABEL_MANAGED: "true",
        "attempt": str(retry_index(ctx.attempt) + 1),
    }
    for key, value in (("run", spec.run_name), ("action", spec.action_name), ("task-name", template.id.name)):
        sanitized = sanitize_label_value(value)
        if sanitized:
            injected[key] = sanitized
    return {**(ta.metadata.get("labels") or {}), **injected}


SECRET_ANNOTATION_PREFIX = "flyte.secrets/s"


def secret_annotations(template: tasks_pb2.TaskTemplate) -> dict[str, str]:
    """flyte.secrets/s<i>: each core.Secret in proto text, base32 in Flyte's alphabet without padding, as upstream
    records the secrets a pod asks for (flytek8s secrets.go). Any valid text encoding parses: Go's own is not stable
    either. The operator injects the secrets itself (`secrets`), so no webhook reads them."""
    return {
        f"{SECRET_ANNOTATION_PREFIX}{i}": flyte_base32(text_format.MessageToString(secret, as_one_line=True).encode())
        for i, secret in enumerate(secrets_of(template))
    }


def is_interruptible(ta: TaskAction, template: tasks_pb2.TaskTemplate) -> bool:
    """The run's `spec.interruptible` when set, else the task's own `metadata.interruptible` (unset: not)."""
    if ta.spec.interruptible is not None:
        return ta.spec.interruptible
    return template.metadata.HasField("interruptible") and template.metadata.interruptible


def command_lines(template: tasks_pb2.TaskTemplate) -> list[str]:
    """Every command and arg of the template's containers: where template variables may stand."""
    if template.HasField("container"):
        return list(template.container.command) + list(template.container.args)
    spec = MessageToDict(template.k8s_pod.pod_spec) if template.HasField("k8s_pod") else {}
    return [v for ct in spec.get("containers") or [] for v in (ct.get("command") or []) + (ct.get("args") or [])]


def _container_from_template(template: tasks_pb2.TaskTemplate, name: str) -> dict[str, Any]:
    container = template.container
    out: dict[str, Any] = {"name": container_name(name), "image": container.image}
    if container.command:
        out["command"] = list(container.command)
    if container.args:
        out["args"] = list(container.args)
    if container.env:
        out["env"] = [env_var(kv.key, kv.value) for kv in container.env]
    return out


def _integral(value: Any) -> Any:
    """protobuf Struct numbers are doubles; the pod spec's numbers (ports, seconds) are integers."""
    return map_leaves(value, lambda leaf: int(leaf) if isinstance(leaf, float) and leaf.is_integer() else leaf)


def _pod_spec(template: tasks_pb2.TaskTemplate, ctx: PodContext) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """The base pod spec, the primary container's name, and metadata from a k8s_pod target."""
    if template.HasField("k8s_pod"):
        k8s_pod = template.k8s_pod
        spec = _integral(MessageToDict(k8s_pod.pod_spec)) if k8s_pod.HasField("pod_spec") else {}
        primary = template.config.get("primary_container_name") or k8s_pod.primary_container_name
        if not primary:
            raise SpecError("taskTemplate.config.primary_container_name is required for a k8s_pod target")
        if not any(ct.get("name") == primary for ct in spec.get("containers") or []):
            raise SpecError(f"taskTemplate.k8s_pod has no container named {primary!r}")
        problem = reserved_name_problem(spec, "taskTemplate.k8sPod.podSpec")
        if problem is not None:
            raise SpecError(problem)
        meta = MessageToDict(k8s_pod.metadata) if k8s_pod.HasField("metadata") else {}
        return spec, primary, meta
    container = _container_from_template(template, ctx.pod_name)
    return {"containers": [container]}, container["name"], {}


def build_pod(
    ta: TaskAction,
    template: tasks_pb2.TaskTemplate,
    attempt: int,
    settings: Settings,
    pod_template: dict[str, Any] | None = None,
    inputs: dict[str, str] | None = None,
) -> dict[str, Any]:
    ctx = pod_context(ta, attempt)
    spec, primary, k8s_meta = _pod_spec(template, ctx)
    spec = copy.deepcopy(spec)
    values = templating.TemplateValues(
        input_prefix=ctx.input_prefix,
        output_prefix=ctx.output_prefix,
        raw_output_prefix=ctx.output_prefix,
        prev_checkpoint_prefix=ctx.prev_checkpoint,
        checkpoint_output_prefix=paths.checkpoint_prefix(ctx.output_prefix),
        per_retry_unique_key=templating.per_retry_unique_key(ctx.pod_name),
        namespace=ctx.namespace,
    )
    decoration = flyte_env(ta, template, ctx.attempt, settings) + storage_env(settings)
    # Init containers first, as upstream; the bundle's own init container comes later and has its own env.
    for container in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        for key in ("command", "args"):
            if container.get(key):
                container[key] = [templating.render(v, values, inputs) for v in container[key]]
        container["env"] = list(container.get("env") or []) + decoration
        container.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")
        if settings.image_pull_policy:
            container.setdefault("imagePullPolicy", settings.image_pull_policy)
    gpu_name = gpu_resource_name(gpu_accelerator(template), settings)
    for container in spec.get("containers") or []:
        if container.get("name") == primary:
            container["resources"] = (
                resources(template.container.resources, settings, gpu_name)
                if template.HasField("container")
                else own_resources(container.get("resources"), settings, f"taskTemplate.k8s_pod.containers[{primary}].resources", gpu_name)
            )
    add_copilot(spec, primary, template, ta.spec.input_uri or "", ctx.output_prefix, settings)
    bundle_uri = template.metadata.code_bundle_uri
    if bundle_uri and not fetches_its_own_bundle(command_lines(template)):
        add_bundle_bootstrap(spec, primary, bundle_uri, settings)
    add_actions_token(spec, settings)
    deadline = active_deadline_seconds(template)
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    spec["enableServiceLinks"] = False
    service_account = (
        template.security_context.run_as.k8s_service_account if template.HasField("security_context") else ""
    ) or settings.default_service_account
    if service_account and not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = service_account
    if settings.scheduler_name and not spec.get("schedulerName"):
        spec["schedulerName"] = settings.scheduler_name
    node_selector = {**settings.default_node_selector, **(spec.get("nodeSelector") or {})}
    tolerations = list(settings.default_tolerations) + list(spec.get("tolerations") or [])
    if is_interruptible(ta, template):
        node_selector.update(settings.interruptible_node_selector)
        tolerations = list(settings.interruptible_tolerations) + tolerations
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations

    annotations = {
        **settings.default_annotations,
        **(k8s_meta.get("annotations") or {}),
        **{k: v for k, v in (ta.metadata.get("annotations") or {}).items() if k not in NOT_COPIED_ANNOTATIONS},
        **secret_annotations(template),
    }
    # The plugin ends a pod with this annotation when its primary container ends; without it, when all have.
    single = len(spec.get("containers") or []) == 1 and template.type != "raw-container"
    if single or template.type == "sidecar":
        annotations[PRIMARY_CONTAINER_ANNOTATION] = primary
    pod_labels = {**settings.default_labels, **(k8s_meta.get("labels") or {}), **labels(ta, template, ctx, settings)}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": ctx.pod_name,
            "namespace": ctx.namespace,
            "labels": pod_labels,
            "annotations": annotations,
            "ownerReferences": [controller_reference(ctx.name, ctx.uid)],
        },
        "spec": spec,
    }
    if pod_template:
        problem = reserved_name_problem((pod_template.get("template") or {}).get("spec") or {}, f"PodTemplate {pod_template_name(pod_template)!r}: template.spec")
        if problem is not None:
            raise SpecError(problem)
        pod = merge_onto_template(pod_template, pod, primary)
    apply_extended_resources(pod, template, primary, settings)
    # Last but for restartPolicy, as the secret webhook would have seen the pod at its admission.
    inject_secrets(pod["spec"], template, settings.secret_env_var_prefix)
    # Whatever the template or the PodTemplate say (upstream keeps a restartPolicy that is set): a retry is a new
    # attempt's pod, never a container the kubelet restarts, and a pod that restarts never ends for the phase mapping.
    pod["spec"]["restartPolicy"] = "Never"
    return pod


def pod_template_name(pod_template: dict[str, Any]) -> str:
    meta = pod_template.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
