"""Run the real operator (``python -m bgjobs run``) as a subprocess for a test.

A subprocess, not a task in the test's loop: tests SIGKILL it and start it
again to prove restart safety, exactly as a crashing pod would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.support.redis_server import free_port

READY_LINE = "rebuilt the Redis index"
STANDBY_LINE = "standing by for Lease"  # with --leader-elect, before it leads


class OperatorProcess:
    _count = 0  # one log file per process, even when they share a workdir

    def __init__(
        self,
        *,
        namespace: str,
        redis_url: str,
        prefix: str,
        workdir: Path,
        kubeconfig: Path,
        registry_configmap: str | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.redis_url = redis_url
        self.prefix = prefix
        self.workdir = workdir
        self.kubeconfig = kubeconfig
        self.registry_configmap = registry_configmap
        self.extra_args = extra_args or []
        self.registry_path = workdir / "registry.yaml"
        OperatorProcess._count += 1
        self.log_path = workdir / f"operator-{OperatorProcess._count}.log"
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def write_registry(self, registry: dict[str, Any]) -> None:
        tmp = self.registry_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(registry))
        tmp.replace(self.registry_path)  # atomic: the operator never reads half a file

    def start(self, timeout: float = 30.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        args = [
            sys.executable,
            "-m",
            "bgjobs",
            "run",
            "-n",
            self.namespace,
            *(
                ["--registry-configmap", self.registry_configmap]
                if self.registry_configmap
                else ["--registry-file", str(self.registry_path)]
            ),
            "--redis-url",
            self.redis_url,
            "--redis-prefix",
            self.prefix,
            "--metrics-port",
            str(self.metrics_port),
            "--liveness",
            "",
            *self.extra_args,
        ]
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"---- start {self.starts} ----\n".encode())
        log.flush()
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        marker = f"---- start {self.starts} ----"
        while time.monotonic() < deadline:
            text = self.log()
            tail = text.split(marker, 1)[-1]
            if READY_LINE in tail or STANDBY_LINE in tail:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"operator not ready after {timeout}s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, like a crashed pod."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
