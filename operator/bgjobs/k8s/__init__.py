"""The only code that talks to the Kubernetes API."""

from bgjobs.k8s.client import Conflict, Kube, KubeError, NotFound

__all__ = ["Conflict", "Kube", "KubeError", "NotFound"]
