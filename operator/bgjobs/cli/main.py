"""``kubectl bgjobs`` (the ``kubectl-bgjobs`` console script).

Exit codes a script can rely on:

    0  success
    1  an API or connection error
    2  bad usage (unknown verb, bad flag or payload)
    3  not found
    4  refused: the API server rejected the job, or the action does not apply
       (retry of a job that is not Failed, cancel of a finished job), or forbidden
    5  enqueue --wait: the job ended Failed or Cancelled
    6  enqueue --wait: the wait timed out
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys

from bgjobs import client
from bgjobs.cli.parser import build_parser
from bgjobs.cli.session import Session, UsageError, Verb
from bgjobs.k8s import KubeError

EXIT: dict[type[client.BgjobsError], int] = {
    client.NotFound: 3,
    client.InvalidJob: 4,
    client.NotRetryable: 4,
    client.NotCancellable: 4,
    client.Forbidden: 4,
    client.JobFailed: 5,
    client.WaitTimeout: 6,
}
# The plugin's own API calls (events, pods, logs, JobSchedules) fail as KubeError.
KUBE_EXIT = {404: 3, 403: 4, 422: 4}


async def run(verb: Verb, a: argparse.Namespace) -> int:
    session = await Session.open(a)
    try:
        return await verb(session, a)
    finally:
        await session.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    args = parser.parse_args(argv)
    if args.func is None:
        parser.print_help()
        return 2
    try:
        return asyncio.run(run(args.func, args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except client.BgjobsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return next((code for kind, code in EXIT.items() if isinstance(exc, kind)), 1)
    except KubeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return KUBE_EXIT.get(exc.status or 0, 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `kubectl bgjobs get x | head`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (silence the flush at exit)
        return 0


if __name__ == "__main__":
    sys.exit(main())
