"""kopf registrations: thin. kopf runs the operator's life (start-up, clean-up, login, signals); the Controller
watches TaskActions and pods itself (controller/watches.py), so kopf watches nothing and keeps no bookkeeping on our
objects: no progress or diff-base annotations (which would copy the large spec), no finalizer of its own.
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


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ours: Settings = memo["settings"]
    settings.posting.level = logging.INFO
    # Nothing of kopf's to scan for: it has no resource handlers. An operator started before the CRD waits for it.
    settings.scanning.disabled = True
    api: KubeApi = memo["api"]
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
