"""The pod policy: what a pod built for a TaskAction may ask for, checked before the pod is created, because whoever
may create a TaskAction gets the pod its template or k8s_pod spec describes, even without the right to create pods.

Two parts, each a pure function over the built pod (a dict in Kubernetes JSON shape):
- the Pod Security Standards at the level of TASKACTION_POD_SECURITY_LEVEL (privileged, baseline, restricted): a port
  of the built-in admission plugin's checks, k8s.io/pod-security-admission policy/check_*.go at v0.36.3, each at its
  newest version ("latest"), one function per check named by its check id; a restricted check that overrides a
  baseline one (capabilities, hostPath volumes, procMount, seccomp) replaces it, as there;
- the ServiceAccounts a pod may run as (TASKACTION_POD_SERVICE_ACCOUNTS), and who may mount the operator's bundle
  cache (`bundle_init`): only its own bootstrap init container, at every level.

The one deliberate difference from the admission plugin: the operator's own bundle cache (a hostPath it adds when
TASKACTION_BOOTSTRAP_CACHE_HOST_PATH is set, mounted by the bootstrap alone) is not counted as a task's hostPath.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..settings import Settings
from .bundle_init import BOOTSTRAP_CONTAINER, BUNDLE_CACHE_VOLUME

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
ANY_SERVICE_ACCOUNT = "*"
NAMESPACE_DEFAULT_SERVICE_ACCOUNT = "default"

# check_capabilities_baseline.go: the container runtime's default set.
DEFAULT_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID",
     "SETPCAP", "SETUID", "SYS_CHROOT"}
)  # fmt: skip
# check_sysctls.go, v1.32: namespaced and isolated from other pods.
SAFE_SYSCTLS = frozenset(
    {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
     "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
     "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem",
     "net.ipv4.tcp_wmem"}
)  # fmt: skip
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})  # v1.31
PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})  # seccomp and AppArmor alike
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
# check_restrictedVolumes.go: the inline volume sources restricted allows.
RESTRICTED_VOLUME_SOURCES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected", "secret"}
)


@dataclass(frozen=True)
class Violation:
    """One field of the pod that a rule refuses: `rule` is the admission plugin's check id (or serviceAccount,
    bundleCache), `field` the JSON path, `found` what is there, `allowed` what the rule takes."""

    rule: str
    field: str
    found: str
    allowed: str

    def describe(self) -> str:
        return f"{self.rule}: {self.field} is {self.found}, allowed: {self.allowed}"


def _show(value: Any) -> str:
    return "unset" if value is None else json.dumps(value, sort_keys=True)


def _security(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("securityContext") or {}


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, container) of every container, in visitContainers' order: init, regular, ephemeral."""
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(spec.get(kind) or []):
            yield f'spec.{kind}[{i}]', container


def _is_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _is_windows(spec: dict[str, Any]) -> bool:
    return (spec.get("os") or {}).get("name") == "windows"


def _in_user_namespace(spec: dict[str, Any]) -> bool:
    """relaxPolicyForUserNamespacePod: hostUsers false relaxes procMount (baseline), runAsNonRoot and runAsUser."""
    return spec.get("hostUsers") is False


def _own_and_containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, securityContext) of the pod, then of each container."""
    yield "spec.securityContext", _security(spec)
    for path, container in _containers(spec):
        yield f"{path}.securityContext", _security(container)


@dataclass(frozen=True)
class Subject:
    """The pod being judged; `exempt_volumes` are the operator's own (its bundle cache), judged by bundleCache."""

    meta: dict[str, Any]
    spec: dict[str, Any]
    exempt_volumes: frozenset[str] = frozenset()

    def volumes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for i, volume in enumerate(self.spec.get("volumes") or []):
            if volume.get("name") not in self.exempt_volumes:
                yield i, volume


Check = Callable[[Subject], list[Violation]]


# Baseline


def windows_host_process(subject: Subject) -> list[Violation]:
    return [
        Violation("windowsHostProcess", f"{path}.windowsOptions.hostProcess", "true", "false or unset")
        for path, security in _own_and_containers(subject.spec)
        if (security.get("windowsOptions") or {}).get("hostProcess") is True
    ]


def host_namespaces(subject: Subject) -> list[Violation]:
    return [Violation("hostNamespaces", f"spec.{key}", "true", "false or unset") for key in ("hostNetwork", "hostPID", "hostIPC") if subject.spec.get(key)]


def privileged(subject: Subject) -> list[Violation]:
    return [
        Violation("privileged", f"{path}.securityContext.privileged", "true", "false or unset")
        for path, container in _containers(subject.spec)
        if _security(container).get("privileged") is True
    ]


def capabilities_baseline(subject: Subject) -> list[Violation]:
    found = []
    for path, container in _containers(subject.spec):
        added = (_security(container).get("capabilities") or {}).get("add") or []
        extra = sorted(set(added) - DEFAULT_CAPABILITIES)
        if extra:
            found.append(Violation("capabilities_baseline", f"{path}.securityContext.capabilities.add", _show(extra), "the default set: " + ", ".join(sorted(DEFAULT_CAPABILITIES))))
    return found


def host_path_volumes(subject: Subject) -> list[Violation]:
    return [
        Violation("hostPathVolumes", f"spec.volumes[{i}].hostPath", _show((volume["hostPath"] or {}).get("path")), "unset")
        for i, volume in subject.volumes()
        if volume.get("hostPath") is not None
    ]


def host_ports(subject: Subject) -> list[Violation]:
    return [
        Violation("hostPorts", f"{path}.ports[{j}].hostPort", _show(port["hostPort"]), "0 or unset")
        for path, container in _containers(subject.spec)
        for j, port in enumerate(container.get("ports") or [])
        if port.get("hostPort")
    ]


def app_armor_profile(subject: Subject) -> list[Violation]:
    found = [
        Violation("appArmorProfile", f"{path}.appArmorProfile.type", _show(profile.get("type")), "RuntimeDefault, Localhost")
        for path, security in _own_and_containers(subject.spec)
        if (profile := security.get("appArmorProfile")) is not None and profile.get("type") not in PROFILE_TYPES
    ]
    for key, value in sorted((subject.meta.get("annotations") or {}).items()):
        allowed = not value or value == "runtime/default" or value.startswith("localhost/")
        if key.startswith(APPARMOR_ANNOTATION_PREFIX) and not allowed:
            found.append(Violation("appArmorProfile", f"metadata.annotations[{key}]", _show(value), "runtime/default, localhost/*, empty"))
    return found


def se_linux_options(subject: Subject) -> list[Violation]:
    found = []
    for path, security in _own_and_containers(subject.spec):
        options = security.get("seLinuxOptions")
        if options is None:
            continue
        if (options.get("type") or "") not in SELINUX_TYPES:
            found.append(Violation("seLinuxOptions", f"{path}.seLinuxOptions.type", _show(options["type"]), ", ".join(sorted(t for t in SELINUX_TYPES if t)) + " or unset"))
        for key in ("user", "role"):
            if options.get(key):
                found.append(Violation("seLinuxOptions", f"{path}.seLinuxOptions.{key}", _show(options[key]), "unset"))
    return found


def _proc_mount(rule: str, spec: dict[str, Any]) -> list[Violation]:
    return [
        Violation(rule, f"{path}.securityContext.procMount", _show(mount), "Default or unset")
        for path, container in _containers(spec)
        if (mount := _security(container).get("procMount")) is not None and mount != "Default"
    ]


def proc_mount(subject: Subject) -> list[Violation]:
    return [] if _in_user_namespace(subject.spec) else _proc_mount("procMount", subject.spec)


def seccomp_profile_baseline(subject: Subject) -> list[Violation]:
    return [
        Violation("seccompProfile_baseline", f"{path}.seccompProfile.type", _show(profile.get("type")), "RuntimeDefault, Localhost or unset")
        for path, security in _own_and_containers(subject.spec)
        if (profile := security.get("seccompProfile")) is not None and profile.get("type") not in PROFILE_TYPES
    ]


def sysctls(subject: Subject) -> list[Violation]:
    return [
        Violation("sysctls", f"spec.securityContext.sysctls[{i}].name", _show(sysctl.get("name")), "the safe set: " + ", ".join(sorted(SAFE_SYSCTLS)))
        for i, sysctl in enumerate(_security(subject.spec).get("sysctls") or [])
        if sysctl.get("name") not in SAFE_SYSCTLS
    ]


def host_probes_and_host_lifecycle(subject: Subject) -> list[Violation]:
    found = []
    for path, container in _containers(subject.spec):
        handlers = [(probe, container.get(probe)) for probe in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [(f"lifecycle.{hook}", (container.get("lifecycle") or {}).get(hook)) for hook in ("postStart", "preStop")]
        for where, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = ((handler or {}).get(action) or {}).get("host")
                if host:
                    found.append(Violation("hostProbesAndHostLifecycle", f"{path}.{where}.{action}.host", _show(host), "empty or unset"))
    return found


# Restricted


def restricted_volumes(subject: Subject) -> list[Violation]:
    found = []
    for i, volume in subject.volumes():
        sources = sorted(key for key, value in volume.items() if key != "name" and value is not None)
        if not any(source in RESTRICTED_VOLUME_SOURCES for source in sources):
            found.append(Violation("restrictedVolumes", f"spec.volumes[{i}]", _show(sources), ", ".join(sorted(RESTRICTED_VOLUME_SOURCES))))
    return found


def allow_privilege_escalation(subject: Subject) -> list[Violation]:
    if _is_windows(subject.spec):
        return []
    return [
        Violation("allowPrivilegeEscalation", f"{path}.securityContext.allowPrivilegeEscalation", _show(value), "false")
        for path, container in _containers(subject.spec)
        if (value := _security(container).get("allowPrivilegeEscalation")) is not False
    ]


def run_as_non_root(subject: Subject) -> list[Violation]:
    if _in_user_namespace(subject.spec):
        return []
    pod_value = _security(subject.spec).get("runAsNonRoot")
    found = [Violation("runAsNonRoot", "spec.securityContext.runAsNonRoot", "false", "true")] if pod_value is False else []
    for path, container in _containers(subject.spec):
        value = _security(container).get("runAsNonRoot")
        if value is False or (value is None and pod_value is not True):
            found.append(Violation("runAsNonRoot", f"{path}.securityContext.runAsNonRoot", _show(value), "true (or unset, when the pod's is true)"))
    return found


def run_as_user(subject: Subject) -> list[Violation]:
    if _in_user_namespace(subject.spec):
        return []
    return [
        Violation("runAsUser", f"{path}.runAsUser", "0", "non-zero or unset")
        for path, security in _own_and_containers(subject.spec)
        if _is_zero(security.get("runAsUser"))
    ]


def seccomp_profile_restricted(subject: Subject) -> list[Violation]:
    if _is_windows(subject.spec):
        return []
    pod_profile = _security(subject.spec).get("seccompProfile")
    found = seccomp_profile_baseline(subject)
    found = [Violation("seccompProfile_restricted", v.field, v.found, "RuntimeDefault, Localhost") for v in found]
    pod_set = pod_profile is not None and pod_profile.get("type") in PROFILE_TYPES
    for path, container in _containers(subject.spec):
        if _security(container).get("seccompProfile") is None and not pod_set:
            found.append(Violation("seccompProfile_restricted", f"{path}.securityContext.seccompProfile.type", "unset", "RuntimeDefault, Localhost (or unset, when the pod's is)"))
    return found


def capabilities_restricted(subject: Subject) -> list[Violation]:
    if _is_windows(subject.spec):
        return []
    found = []
    for path, container in _containers(subject.spec):
        capabilities = _security(container).get("capabilities") or {}
        dropped = capabilities.get("drop") or []
        if "ALL" not in dropped:
            found.append(Violation("capabilities_restricted", f"{path}.securityContext.capabilities.drop", _show(capabilities.get("drop")), 'a list holding "ALL"'))
        extra = sorted(set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"})
        if extra:
            found.append(Violation("capabilities_restricted", f"{path}.securityContext.capabilities.add", _show(extra), "NET_BIND_SERVICE or unset"))
    return found


def proc_mount_restricted(subject: Subject) -> list[Violation]:
    return _proc_mount("procMount_restricted", subject.spec)


BASELINE_CHECKS: tuple[Check, ...] = (
    windows_host_process, host_namespaces, privileged, capabilities_baseline, host_path_volumes, host_ports,
    app_armor_profile, se_linux_options, proc_mount, seccomp_profile_baseline, sysctls, host_probes_and_host_lifecycle,
)  # fmt: skip
# Each restricted check with the baseline check it replaces (OverrideCheckIDs), if any.
RESTRICTED_CHECKS: tuple[tuple[Check, Check | None], ...] = (
    (restricted_volumes, host_path_volumes),
    (allow_privilege_escalation, None),
    (run_as_non_root, None),
    (run_as_user, None),
    (seccomp_profile_restricted, seccomp_profile_baseline),
    (capabilities_restricted, capabilities_baseline),
    (proc_mount_restricted, proc_mount),
)


def checks_of(level: str) -> list[Check]:
    if level == PRIVILEGED:
        return []
    if level == BASELINE:
        return list(BASELINE_CHECKS)
    replaced = {baseline for _, baseline in RESTRICTED_CHECKS if baseline is not None}
    return [check for check in BASELINE_CHECKS if check not in replaced] + [check for check, _ in RESTRICTED_CHECKS]


def pod_security_violations(pod: dict[str, Any], level: str, exempt_volumes: frozenset[str] = frozenset()) -> list[Violation]:
    """The Pod Security Standards at `level` on the pod, every violation of every check."""
    subject = Subject(pod.get("metadata") or {}, pod.get("spec") or {}, exempt_volumes)
    return [violation for check in checks_of(level) for violation in check(subject)]


# The operator's own rules


def allowed_service_accounts(settings: Settings) -> frozenset[str] | None:
    """None: any. Otherwise the namespace's `default`, the operator's TASKACTION_DEFAULT_SERVICE_ACCOUNT and the listed."""
    if ANY_SERVICE_ACCOUNT in settings.pod_service_accounts:
        return None
    names = {NAMESPACE_DEFAULT_SERVICE_ACCOUNT, *settings.pod_service_accounts}
    if settings.default_service_account:
        names.add(settings.default_service_account)
    return frozenset(names)


def service_account_violations(spec: dict[str, Any], settings: Settings) -> list[Violation]:
    """serviceAccountName and its deprecated alias serviceAccount (the API server takes the alias when the name is
    empty), each if set; neither means the namespace's `default`."""
    allowed = allowed_service_accounts(settings)
    if allowed is None:
        return []
    return [
        Violation("serviceAccount", f"spec.{key}", _show(spec[key]), ", ".join(sorted(allowed)) + " (TASKACTION_POD_SERVICE_ACCOUNTS)")
        for key in ("serviceAccountName", "serviceAccount")
        if spec.get(key) and spec[key] not in allowed
    ]


def _is_operator_cache(volume: dict[str, Any], settings: Settings) -> bool:
    host_path = volume.get("hostPath") or {}
    return volume.get("name") == BUNDLE_CACHE_VOLUME and bool(settings.bootstrap_cache_host_path) and host_path.get("path") == settings.bootstrap_cache_host_path


def bundle_cache_violations(spec: dict[str, Any], settings: Settings) -> list[Violation]:
    """Only the operator's bootstrap init container mounts the bundle cache, running its own image and entrypoint and
    no command after it: nothing else in the pod may write, or read, what the pods of the node share. (The names are
    the operator's alone: bundle_init.reserved_name_problem refuses them in a task's spec and in a PodTemplate.)"""
    found = []
    for path, container in _containers(spec):
        mounts = [j for j, mount in enumerate(container.get("volumeMounts") or []) if mount.get("name") == BUNDLE_CACHE_VOLUME]
        is_bootstrap = path.startswith("spec.initContainers") and container.get("name") == BOOTSTRAP_CONTAINER
        for j in mounts:
            if not is_bootstrap:
                found.append(Violation("bundleCache", f"{path}.volumeMounts[{j}]", _show(BUNDLE_CACHE_VOLUME), f"only in the {BOOTSTRAP_CONTAINER} init container"))
        if mounts and is_bootstrap:
            if container.get("command"):
                found.append(Violation("bundleCache", f"{path}.command", _show(container["command"]), "unset (the bootstrap image's entrypoint)"))
            if "--" in (container.get("args") or []):  # what follows it, the bootstrap runs (a PodTemplate's args come first)
                found.append(Violation("bundleCache", f"{path}.args", _show(container["args"]), "no command after --"))
            if container.get("image") != settings.bootstrap_image:
                found.append(Violation("bundleCache", f"{path}.image", _show(container.get("image")), _show(settings.bootstrap_image)))
    return found


def pod_policy_violations(pod: dict[str, Any], settings: Settings) -> list[Violation]:
    """Everything the pod policy refuses in the pod, in the order of the rules."""
    spec = pod.get("spec") or {}
    own = frozenset(v["name"] for v in spec.get("volumes") or [] if _is_operator_cache(v, settings))
    return (
        pod_security_violations(pod, settings.pod_security_level, own)
        + service_account_violations(spec, settings)
        + bundle_cache_violations(spec, settings)
    )


def describe_violations(violations: list[Violation], level: str) -> str:
    """The errorState message: the level and each rule with its field."""
    return f"the pod policy (level {level}) refuses the pod: " + "; ".join(v.describe() for v in violations)
