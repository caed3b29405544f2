"""``kopf run -m bgjobs.operator``: registers the handlers (settings from BGJOBS_* env)."""

from bgjobs.handlers import kopf_app

__all__ = ["kopf_app"]
