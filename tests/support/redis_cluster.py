"""A throw-away three-node Redis Cluster on loopback, for tests.

Three ``redis-server`` primaries in cluster mode (no replicas), the 16,384
slots split between them by ``CLUSTER ADDSLOTSRANGE``, joined by ``CLUSTER
MEET``. Ready once every node says ``cluster_state:ok`` and knows the others.
"""

from __future__ import annotations

from types import TracebackType

import redis

from tests.support.poll import eventually_sync
from tests.support.redis_server import RedisServer

SLOTS = 16384


class RedisClusterServers:
    """Context manager: ``with RedisClusterServers() as c: c.nodes[0].url``."""

    def __init__(self, size: int = 3) -> None:
        self.nodes = [
            RedisServer(
                extra_args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ]
            )
            for _ in range(size)
        ]

    def node_for(self, key: str) -> RedisServer:
        """The node that holds ``key``'s slot."""
        with redis.Redis(port=self.nodes[0].port) as conn:
            slot = int(conn.execute_command("CLUSTER", "KEYSLOT", key))
        share = SLOTS // len(self.nodes)
        return self.nodes[min(slot // share, len(self.nodes) - 1)]

    def start(self, timeout: float = 30.0) -> RedisClusterServers:
        for node in self.nodes:
            node.start()
        share = SLOTS // len(self.nodes)
        for i, node in enumerate(self.nodes):
            last = SLOTS - 1 if i == len(self.nodes) - 1 else (i + 1) * share - 1
            with redis.Redis(port=node.port) as conn:
                conn.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
        with redis.Redis(port=self.nodes[0].port) as conn:
            for node in self.nodes[1:]:
                conn.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        eventually_sync(self._ready, within=timeout, interval=0.1, what="the Redis Cluster to form")
        return self

    def _ready(self) -> bool:
        for node in self.nodes:
            with redis.Redis(port=node.port) as conn:
                info = conn.execute_command("CLUSTER", "INFO").decode()
            fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
            if fields.get("cluster_state") != "ok":
                return False
            if int(fields.get("cluster_known_nodes", 0)) != len(self.nodes):
                return False
        return True

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RedisClusterServers:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
