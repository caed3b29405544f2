"""bgjobs handler SDK: a handler is a plain function ``(payload, ctx) -> result``.

    from bgjobs_handler import Context, Payload, PermanentError, handler, run

    class Mail(Payload):           # strict: unknown fields and coercion refused
        to: str
        subject: str

    @handler(payload=Mail)
    def send(payload: Mail, ctx: Context) -> dict:
        if not payload.to.endswith(".org"):
            raise PermanentError("payload.to: only .org addresses")   # exit 3, never retried
        return {"status": "sent"}                                    # exit 0, becomes status.result

    if __name__ == "__main__":
        run(send)

The pod contract (``BGJOB_*`` env in, exit code and ``/dev/termination-log``
out) is handled here; see the README.
"""

from bgjobs_handler.runtime import (
    EXIT_OK,
    EXIT_PERMANENT,
    EXIT_RETRY,
    EXIT_TERMINATED,
    MAX_RESULT_BYTES,
    Context,
    Handler,
    Payload,
    PermanentError,
    Terminated,
    configure_logging,
    handler,
    run,
    run_handler,
)

__all__ = [
    "EXIT_OK",
    "EXIT_PERMANENT",
    "EXIT_RETRY",
    "EXIT_TERMINATED",
    "MAX_RESULT_BYTES",
    "Context",
    "Handler",
    "Payload",
    "PermanentError",
    "Terminated",
    "configure_logging",
    "handler",
    "run",
    "run_handler",
]
__version__ = "0.1.0"
