"""kopf handlers: thin adapters from watch events to the work queue.

Import :mod:`bgjobs.handlers.kopf_app` (or run ``kopf run -m bgjobs.operator``)
to register them.
"""
