"""Load a shipped handler (``handler-images/<type>/handler.py``) and run one attempt."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from bgjobs_handler import run_handler

IMAGES = Path(__file__).resolve().parents[2] / "handler-images"


def load_handler(job_type: str) -> ModuleType:
    path = IMAGES / job_type / "handler.py"
    spec = importlib.util.spec_from_file_location(f"bgjobs_image_{job_type}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(module)
    return module


def attempt(
    fn: Any,
    payload: dict[str, Any],
    tmp_path: Path,
    *,
    env: dict[str, str] | None = None,
    attempt: int = 1,
    uid: str = "5f0c1e2a-0000-4000-8000-000000000001",
) -> tuple[int, str]:
    """Run ``fn`` as the pod would; (exit code, termination message)."""
    out = tmp_path / f"termination-log-{attempt}"
    full_env = {
        "BGJOB_PAYLOAD": json.dumps(payload),
        "BGJOB_NAME": "job-1",
        "BGJOB_NAMESPACE": "app",
        "BGJOB_UID": uid,
        "BGJOB_IDEMPOTENCY_KEY": uid,
        "BGJOB_TYPE": "test",
        "BGJOB_ATTEMPT": str(attempt),
        **(env or {}),
    }
    code = run_handler(fn, env=full_env, termination_log=str(out))
    return code, out.read_text() if out.exists() else ""
