"""Pods for every rule of the Pod Security Standards, each one change from a pod that meets `restricted`, with what the
built-in admission plugin says of it: the unit tier checks pods/policy.py against the table, the cluster tier checks
the table against the real API server (a server-side dry run in a namespace that enforces the level)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The admission plugin's forbidden reason of each rule (its message names reasons, not check ids).
REASONS = {
    "windowsHostProcess": "hostProcess",
    "hostNamespaces": "host namespaces",
    "privileged": "privileged",
    "capabilities_baseline": "non-default capabilities",
    "hostPathVolumes": "hostPath volumes",
    "hostPorts": "hostPort",
    "appArmorProfile": "forbidden AppArmor profile",
    "seLinuxOptions": "seLinuxOptions",
    "procMount": "procMount",
    "procMount_restricted": "procMount",
    "seccompProfile_baseline": "seccompProfile",
    "seccompProfile_restricted": "seccompProfile",
    "sysctls": "forbidden sysctls",
    "hostProbesAndHostLifecycle": "probe or lifecycle host",
    "restrictedVolumes": "restricted volume types",
    "allowPrivilegeEscalation": "allowPrivilegeEscalation != false",
    "runAsNonRoot": "runAsNonRoot != true",
    "runAsUser": "runAsUser=0",
    "capabilities_restricted": "unrestricted capabilities",
}


def restricted_pod() -> dict[str, Any]:
    """A pod that meets every level."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "psa-case"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": "registry.invalid/task:1",
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
        },
    }


def _main(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


@dataclass(frozen=True)
class Case:
    """`change` turns the restricted pod into the case; at `level` it violates exactly `rules` (none: allowed), each
    at the fields named (a prefix is enough)."""

    name: str
    level: str
    change: Callable[[dict[str, Any]], None]
    rules: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def pod(self) -> dict[str, Any]:
        pod = copy.deepcopy(restricted_pod())
        self.change(pod)
        return pod


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a dotted path of the pod (`spec.x.y`, `main.securityContext.z` for the container)."""

    def change(pod: dict[str, Any]) -> None:
        parts = path.split(".")
        node = _main(pod) if parts[0] == "main" else pod[parts[0]]
        for part in parts[1:-1]:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value

    return change


def _all(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(pod: dict[str, Any]) -> None:
        for one in changes:
            one(pod)

    return change


def _windows_host_process(pod: dict[str, Any]) -> None:
    # Windows pods may not hold Linux security fields; a hostProcess pod must share the host's network.
    pod["spec"] = {
        "os": {"name": "windows"},
        "hostNetwork": True,
        "securityContext": {"windowsOptions": {"hostProcess": True}},
        "containers": [{"name": "main", "image": "registry.invalid/task:1"}],
    }


C = "spec.containers[0]"
BASELINE_CASES = (
    Case("allowed", "baseline", _set("spec.securityContext", None)),
    Case("hostNetwork", "baseline", _set("spec.hostNetwork", True), ("hostNamespaces",), ("spec.hostNetwork",)),
    Case("hostPID", "baseline", _set("spec.hostPID", True), ("hostNamespaces",), ("spec.hostPID",)),
    Case("hostIPC", "baseline", _set("spec.hostIPC", True), ("hostNamespaces",), ("spec.hostIPC",)),
    Case("windows hostProcess", "baseline", _windows_host_process, ("hostNamespaces", "windowsHostProcess"),
         ("spec.hostNetwork", "spec.securityContext.windowsOptions.hostProcess")),
    # (The API server refuses privileged or SYS_ADMIN beside allowPrivilegeEscalation false.)
    Case("privileged", "baseline", _all(_set("main.securityContext.privileged", True), _set("main.securityContext.allowPrivilegeEscalation", None)),
         ("privileged",), (f"{C}.securityContext.privileged",)),
    Case("privileged false", "baseline", _set("main.securityContext.privileged", False)),
    Case("capability beyond the default set", "baseline", _set("main.securityContext.capabilities.add", ["NET_ADMIN"]),
         ("capabilities_baseline",), (f"{C}.securityContext.capabilities.add",)),
    Case("capability of the default set", "baseline", _set("main.securityContext.capabilities.add", ["CHOWN", "KILL"])),
    Case("hostPath", "baseline", _set("spec.volumes", [{"name": "root", "hostPath": {"path": "/"}}]), ("hostPathVolumes",), ("spec.volumes[0].hostPath",)),
    Case("hostPort", "baseline", _set("main.ports", [{"containerPort": 80, "hostPort": 8080}]), ("hostPorts",), (f"{C}.ports[0].hostPort",)),
    Case("hostPort 0", "baseline", _set("main.ports", [{"containerPort": 80, "hostPort": 0}])),
    Case("AppArmor unconfined", "baseline", _set("spec.securityContext.appArmorProfile", {"type": "Unconfined"}),
         ("appArmorProfile",), ("spec.securityContext.appArmorProfile.type",)),
    Case("AppArmor localhost", "baseline", _set("main.securityContext.appArmorProfile", {"type": "Localhost", "localhostProfile": "p"})),
    Case("AppArmor annotation", "baseline", _set("metadata.annotations", {"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}),
         ("appArmorProfile",), ("metadata.annotations[container.apparmor.security.beta.kubernetes.io/main]",)),
    Case("SELinux type", "baseline", _set("main.securityContext.seLinuxOptions", {"type": "spc_t"}), ("seLinuxOptions",), (f"{C}.securityContext.seLinuxOptions.type",)),
    Case("SELinux user", "baseline", _set("spec.securityContext.seLinuxOptions", {"user": "system_u"}), ("seLinuxOptions",), ("spec.securityContext.seLinuxOptions.user",)),
    Case("SELinux container_engine_t", "baseline", _set("spec.securityContext.seLinuxOptions", {"type": "container_engine_t", "level": "s0:c1"})),
    Case("seccomp unconfined", "baseline", _set("spec.securityContext.seccompProfile", {"type": "Unconfined"}),
         ("seccompProfile_baseline",), ("spec.securityContext.seccompProfile.type",)),
    Case("unsafe sysctl", "baseline", _set("spec.securityContext.sysctls", [{"name": "kernel.msgmax", "value": "65536"}]),
         ("sysctls",), ("spec.securityContext.sysctls[0].name",)),
    Case("safe sysctl", "baseline", _set("spec.securityContext.sysctls", [{"name": "net.ipv4.tcp_keepalive_time", "value": "600"}])),
    Case("probe host", "baseline", _set("main.readinessProbe", {"httpGet": {"host": "10.0.0.1", "port": 80}}),
         ("hostProbesAndHostLifecycle",), (f"{C}.readinessProbe.httpGet.host",)),
    Case("lifecycle host", "baseline", _set("main.lifecycle", {"preStop": {"tcpSocket": {"host": "10.0.0.1", "port": 80}}}),
         ("hostProbesAndHostLifecycle",), (f"{C}.lifecycle.preStop.tcpSocket.host",)),
)  # fmt: skip
RESTRICTED_CASES = (
    Case("allowed", "restricted", lambda pod: None),
    Case("NET_BIND_SERVICE", "restricted", _set("main.securityContext.capabilities.add", ["NET_BIND_SERVICE"])),
    Case("container-level seccomp and runAsNonRoot", "restricted",
         _all(_set("spec.securityContext", None), _set("main.securityContext.runAsNonRoot", True),
              _set("main.securityContext.seccompProfile", {"type": "Localhost", "localhostProfile": "p.json"}))),
    Case("nfs volume", "restricted", _set("spec.volumes", [{"name": "share", "nfs": {"server": "nfs.invalid", "path": "/"}}]),
         ("restrictedVolumes",), ("spec.volumes[0]",)),
    Case("hostPath", "restricted", _set("spec.volumes", [{"name": "root", "hostPath": {"path": "/"}}]), ("restrictedVolumes",), ("spec.volumes[0]",)),
    Case("allowPrivilegeEscalation unset", "restricted", _set("main.securityContext.allowPrivilegeEscalation", None),
         ("allowPrivilegeEscalation",), (f"{C}.securityContext.allowPrivilegeEscalation",)),
    Case("runAsNonRoot unset", "restricted", _set("spec.securityContext.runAsNonRoot", None), ("runAsNonRoot",), (f"{C}.securityContext.runAsNonRoot",)),
    Case("runAsNonRoot false", "restricted", _set("main.securityContext.runAsNonRoot", False), ("runAsNonRoot",), (f"{C}.securityContext.runAsNonRoot",)),
    Case("runAsUser 0", "restricted", _set("spec.securityContext.runAsUser", 0), ("runAsUser",), ("spec.securityContext.runAsUser",)),
    Case("seccomp unset", "restricted", _set("spec.securityContext.seccompProfile", None), ("seccompProfile_restricted",), (f"{C}.securityContext.seccompProfile",)),
    Case("drop ALL missing", "restricted", _set("main.securityContext.capabilities", {"drop": ["NET_RAW"]}),
         ("capabilities_restricted",), (f"{C}.securityContext.capabilities.drop",)),
    Case("capability of the default set", "restricted", _set("main.securityContext.capabilities.add", ["CHOWN"]),
         ("capabilities_restricted",), (f"{C}.securityContext.capabilities.add",)),
    Case("privileged", "restricted", _all(_set("main.securityContext.privileged", True), _set("main.securityContext.allowPrivilegeEscalation", None)),
         ("privileged", "allowPrivilegeEscalation"), (f"{C}.securityContext.privileged", f"{C}.securityContext.allowPrivilegeEscalation")),
)  # fmt: skip
CASES = BASELINE_CASES + RESTRICTED_CASES
