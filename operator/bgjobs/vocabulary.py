"""Every name bgjobs writes into the cluster and into Redis, in one place.

Annotations, labels, finalizers, condition types and Redis keys are part of
the contract (``docs/api.md``): users select on them, older operators read
them. A literal in any other module is a bug (``tests/unit/test_vocabulary.py``
looks for them).
"""

from __future__ import annotations

API_GROUP = "bgjobs.io"
API_VERSION = "v1alpha1"

# Annotations -------------------------------------------------------------------
#: On a JobSchedule: a new value asks for one run now.
RUN_NOW_ANNOTATION = f"{API_GROUP}/run-now"


def label_value(value: str) -> str:
    """``value`` cut to what a label value may hold (63 characters, ending alphanumeric)."""
    return value[:63].rstrip("-._")
