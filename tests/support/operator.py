"""Run the real operator (``python -m bgjobs run``) as a subprocess for a test.

A subprocess, not a task in the test's loop: tests SIGKILL it and start it
again to prove restart safety, exactly as a crashing pod would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.redis_server import free_port

READY_LINE = "rebuilt the Redis index"
STANDBY_LINE = "standing by for Lease"  # with --leader-elect, before it leads
SERVING_LINE = "health on :"  # up, though perhaps not ready (no registry, no API server)


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
        env: dict[str, str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.redis_url = redis_url
        self.prefix = prefix
        self.workdir = workdir
        self.kubeconfig = kubeconfig
        self.registry_configmap = registry_configmap
        self.extra_args = extra_args or []
        self.env = env or {}
        self.registry_path = workdir / "registry.yaml"
        OperatorProcess._count += 1
        self.log_path = workdir / f"operator-{OperatorProcess._count}.log"
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def write_registry(self, registry: dict[str, Any]) -> None:
        tmp = self.registry_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(registry))
        tmp.replace(self.registry_path)  # atomic: the operator never reads half a file

    def start(
        self, timeout: float = 30.0, *, ready: tuple[str, ...] = (READY_LINE, STANDBY_LINE)
    ) -> None:
        """Start, and return once the log shows one of the ``ready`` lines."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
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
            "--health-port",
            str(self.health_port),
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
            if any(line in tail for line in ready):
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

    def probe(self, path: str) -> tuple[int, dict[str, Any]]:
        """GET ``/healthz`` or ``/readyz``: (HTTP status, the JSON detail)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}") as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The current value of one sample on ``/metrics`` (0 when absent)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics") as resp:
            text = resp.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == (labels or {}):
                    return float(sample.value)
        return 0.0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
