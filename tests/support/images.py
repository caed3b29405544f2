"""The project's images, built with Docker (hack/images.sh), for tests that run them.

Every handler image comes from one Dockerfile, ``handler-images/Dockerfile``,
built with ``HANDLER=<type>``: a type is a directory there with a ``handler.py``.
"""

from __future__ import annotations

import shutil
import subprocess

from tests.support.cluster import ROOT, real_env

TAG = "0.1.0"
HANDLER_TYPES = sorted(p.parent.name for p in (ROOT / "handler-images").glob("*/handler.py"))


def handler_image(job_type: str) -> str:
    return f"bgjobs/handler-{job_type.replace('_', '-')}:{TAG}"


def docker_problem() -> str | None:
    """Why no image can be built here, or None when a Docker engine answers."""
    if not shutil.which("docker"):
        return "docker CLI not installed (apt-get install docker.io)"
    done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return "the Docker daemon does not answer (start dockerd)"
    return None


def build_images(*, into_real_node: bool = False) -> None:
    """Build (or reuse, by Docker's cache) every image; loaded into the real node
    if it runs (``into_real_node``: it must, or this fails)."""
    args = ["--load"] if into_real_node else []
    subprocess.run(
        [str(ROOT / "hack" / "images.sh"), *args], check=True, timeout=1800, env=real_env()
    )
