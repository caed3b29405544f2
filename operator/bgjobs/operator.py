"""``kopf run -m bgjobs.operator``: registers the handlers (settings from BGJOBS_* env)."""

from bgjobs.handlers import kopf_app
from bgjobs.settings import Settings

if Settings.from_env().webhook_port:  # kopf refuses admission handlers without a server
    from bgjobs.handlers import admission  # noqa: F401

__all__ = ["kopf_app"]
