"""bgjobs: Kubernetes-native background jobs.

Users declare work as BackgroundJob and JobSchedule custom resources; a kopf
operator orders them by priority in Redis and runs each attempt as a batch/v1
Job. The contract is ``docs/api.md``.
"""

__version__ = "0.1.0"

from bgjobs.vocabulary import API_GROUP, API_VERSION

__all__ = ["API_GROUP", "API_VERSION", "__version__"]
