"""The one Kubernetes API client every part uses: operator, control-plane client, actions service."""

from .api import KubeApi
from .connect import connect
from .errors import ApiError, unless_missing

__all__ = ["ApiError", "KubeApi", "connect", "unless_missing"]
