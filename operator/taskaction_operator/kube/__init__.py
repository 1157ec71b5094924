"""The one Kubernetes API client every part uses: operator, control-plane client, actions service."""

from .api import KubeApi
from .connect import connect
from .errors import TRANSPORT_ERRORS, ApiError, unless_missing

__all__ = ["TRANSPORT_ERRORS", "ApiError", "KubeApi", "connect", "unless_missing"]
