"""kopf registrations: thin. Watch events go to the Controller; nothing here decides anything.

Only low-level `on.event` handlers are used, so kopf keeps no bookkeeping on our objects: no progress or
diff-base annotations (which would copy the large spec), no finalizer of its own.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from .. import metrics
from ..api import constants as c
from ..settings import Settings
from ..storage.filesystems import close_filesystems
from .discovery import wait_until_served
from ..kube import KubeApi
from .runtime import Controller

logger = logging.getLogger(__name__)


class NoDiffBase(kopf.DiffBaseStorage):
    """No change detection: kopf would otherwise deep-copy every object on every watch event to build a diff-base
    that only create/update handlers use, and this operator has none."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def _controller(memo: kopf.Memo) -> Controller:
    return memo["controller"]


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ours: Settings = memo["settings"]
    # Server-side: only our pods travel over the watch, so memory does not grow with the cluster's other pods.
    settings.watching.label_selectors["pods"] = c.MANAGED_SELECTOR
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    settings.posting.level = logging.INFO
    settings.persistence.diffbase_storage = NoDiffBase()
    # kopf's own finalizer is never added (no delete handlers, no daemons). It must not be named like ours: kopf
    # removes "its" finalizer from objects that do not need it, and would fight the operator over it.
    api: KubeApi = memo["api"]
    if ours.namespaces:
        # kopf follows a list of namespaces through its scanning, which on start-up leaves out a namespace that is
        # being deleted: an operator (re)started while a watched namespace terminates would never release the
        # finalizers holding it there. The names are exact, so each is watched directly instead; as kopf then no
        # longer notices a CRD installed after it started, the operator waits for the CRD first.
        settings.scanning.disabled = True
        await wait_until_served(api, c.GROUP, c.VERSION, c.PLURAL)
    controller = Controller(api, ours)
    controller.start()
    metrics.register_phase_collector(controller.phase_counts)
    memo["controller"] = controller


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    controller = memo.get("controller")
    if controller is not None:
        await controller.stop()
    await close_filesystems()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL)
async def taskaction_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _controller(memo).on_taskaction_event(event["type"], event["object"])


@kopf.on.event("", "v1", "pods", labels={c.LABEL_MANAGED: "true"})
async def pod_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _controller(memo).on_pod_event(event["type"], event["object"])
