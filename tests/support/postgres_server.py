"""A throw-away PostgreSQL (Debian's server binaries) on a free port.

It listens on loopback, and also on ``host`` when given one, trusting clients
from ``trust`` (a CIDR): the e2e tier lets the real node's pods in that way.
``initdb`` refuses to run as root, so as root the server runs as the
``postgres`` user (which Debian's package creates).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from tests.support.poll import eventually_sync
from tests.support.redis_server import free_port


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL server not found: install the Debian package postgresql")


class PostgresServer:
    def __init__(self, *, host: str | None = None, trust: str | None = None) -> None:
        self.bindir = _bindir()
        self.port = 0
        self.dir: Path | None = None
        self.host = host
        self.trust = trust
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def public_url(self) -> str:
        """The URL clients on ``host`` use."""
        return f"postgresql://postgres@{self.host or '127.0.0.1'}:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        self.dir = Path(tempfile.mkdtemp(prefix="bgjobs-pg-"))
        data = self.dir / "data"
        if self._as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        if self.trust:
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {self.trust} trust\n")
        self.port = free_port()
        listen = ",".join(["127.0.0.1", *([self.host] if self.host else [])])
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses={listen} -c fsync=off"
        self._run("pg_ctl", "-D", str(data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")

        def accepting() -> bool:
            return (
                subprocess.run(
                    [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                    capture_output=True,
                ).returncode
                == 0
            )

        eventually_sync(accepting, within=30, interval=0.1, what="PostgreSQL to accept connections")
        return self

    def stop(self) -> None:
        if self.dir is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
