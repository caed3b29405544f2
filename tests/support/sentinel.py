"""Redis with Sentinel on loopback: a primary, a replica, three sentinels.

All from Debian's ``redis-server`` and ``redis-sentinel``; the primary can be
SIGKILLed to make the sentinels fail over to the replica.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import redis

from tests.support.poll import eventually_sync
from tests.support.redis_server import RedisServer, free_port

MASTER = "bgjobs"


class SentinelGroup:
    def __init__(self, *, down_after_ms: int = 1000) -> None:
        self.binary = shutil.which("redis-sentinel")
        if not self.binary:
            raise RuntimeError("redis-sentinel not found: install the Debian package (make deps)")
        self.down_after_ms = down_after_ms
        self.primary = RedisServer()
        self.replica: RedisServer | None = None
        self.ports: list[int] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._dir = Path(tempfile.mkdtemp(prefix="bgjobs-sentinel-"))

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    def __enter__(self) -> SentinelGroup:
        self.primary.start()
        self.replica = RedisServer(extra_args=["--replicaof", "127.0.0.1", str(self.primary.port)])
        self.replica.start()
        for i in range(3):
            port = free_port()
            conf = self._dir / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self._dir}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} {self.down_after_ms}\n"
                f"sentinel failover-timeout {MASTER} 10000\n"
                f"logfile {self._dir}/sentinel-{i}.log\n"
            )
            self._procs.append(
                subprocess.Popen([str(self.binary), str(conf)], stdout=subprocess.DEVNULL)
            )
            self.ports.append(port)
        eventually_sync(
            lambda: all(self._knows_replica(port) for port in self.ports),
            within=30,
            interval=0.1,
            what=f"the sentinels to see the replica (logs in {self._dir})",
        )
        return self

    def _knows_replica(self, port: int) -> bool:
        try:
            with redis.Redis(port=port, socket_timeout=1) as conn:
                return bool(conn.sentinel_slaves(MASTER))
        except redis.RedisError:
            return False

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers sees it."""
        for port in self.ports:
            try:
                with redis.Redis(port=port, socket_timeout=1) as conn:
                    host_port = conn.sentinel_get_master_addr_by_name(MASTER)
                    return int(host_port[1]) if host_port else None
            except redis.RedisError:
                continue
        return None

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-2000:] for p in sorted(self._dir.glob("*.log"))
        )

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            proc.wait(timeout=10)
        self.primary.stop()
        if self.replica is not None:
            self.replica.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
