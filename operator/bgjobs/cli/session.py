"""What every verb is given, and the one error the plugin adds to the client's.

A verb is ``async def verb(s: Session, a: argparse.Namespace) -> int`` (the
exit code), and its docstring is its ``--help`` (a summary line, then
examples). The parser attaches each verb to its subcommand with
``set_defaults(func=...)``; ``main`` opens one Session from the flags every
verb shares (``-n``, ``--kubeconfig``, ``--context``) and runs it. Failures
are the client's errors (``bgjobs.client.BgjobsError``), which ``main`` turns
into exit codes, and :class:`UsageError`; the plugin's own reads (events, pods,
logs, JobSchedules) fail as ``bgjobs.k8s.KubeError``, mapped by HTTP status.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bgjobs.client import AsyncClient
from bgjobs.k8s import Kube


class UsageError(Exception):
    """Bad usage the parser cannot see (an unreadable payload file, a bad key prefix): exit 2."""


@dataclass(frozen=True)
class Session:
    """The client, and the API for what it does not cover (events, pods, logs, JobSchedules)."""

    client: AsyncClient
    kube: Kube

    @classmethod
    async def open(cls, a: argparse.Namespace) -> Session:
        kube = await Kube.connect(a.kubeconfig, context=a.context)
        client = AsyncClient(a.namespace, kubeconfig=a.kubeconfig, context=a.context, kube=kube)
        return cls(client, kube)

    async def close(self) -> None:
        await self.client.close()  # and the API client it was given


def namespace(a: argparse.Namespace) -> str:
    """``-n``, else the namespace of the kubeconfig context."""
    return str(a.namespace or Kube.default_namespace(a.kubeconfig, a.context))


Verb = Callable[[Session, argparse.Namespace], Awaitable[int]]
