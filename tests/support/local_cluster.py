"""e2e/cluster.py (a script, not a package) imported for the tests: paths of the local cluster and its helpers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLUSTER_PY = REPO / "e2e" / "cluster.py"

_spec = importlib.util.spec_from_file_location("taskaction_e2e_cluster", CLUSTER_PY)
cluster = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cluster)
