"""The only code that talks to the Kubernetes API."""

from bgjobs.k8s.client import Kube
from bgjobs.k8s.errors import Conflict, Gone, KubeError, NotFound

__all__ = ["Conflict", "Gone", "Kube", "KubeError", "NotFound"]
