"""Run a handler on your machine with a payload from the command line.

    bgjobs-handler-run mypkg.handlers:send --payload '{"to": "ada@example.org"}'
    bgjobs-handler-run handler.py:send --payload @payload.json --attempt 2

Prints the termination message and exits with the handler's exit code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bgjobs_handler.runtime import Context, configure_logging, run_handler


def load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise SystemExit(f"error: {target!r}: give module:function or file.py:function")
    if module_name.endswith(".py"):
        spec = importlib.util.spec_from_file_location("bgjobs_local_handler", module_name)
        if spec is None or spec.loader is None:
            raise SystemExit(f"error: cannot load {module_name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # so pydantic can resolve the module's annotations
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SystemExit(f"error: {module_name} has no {attr!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bgjobs-handler-run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", help="module:function or path/to/file.py:function")
    parser.add_argument("--payload", default="{}", help="JSON, or @file")
    parser.add_argument("--attempt", type=int, default=1)
    parser.add_argument("--type", default="local")
    args = parser.parse_args(argv)
    payload = args.payload
    if payload.startswith("@"):
        payload = Path(payload[1:]).read_text()
    uid = str(uuid.uuid4())
    env = {
        **os.environ,
        "BGJOB_PAYLOAD": payload,
        "BGJOB_NAME": "local",
        "BGJOB_NAMESPACE": "local",
        "BGJOB_UID": uid,
        "BGJOB_IDEMPOTENCY_KEY": uid,
        "BGJOB_TYPE": args.type,
        "BGJOB_ATTEMPT": str(args.attempt),
    }
    fn = load(args.target)
    configure_logging(Context.from_env(env))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "termination-log"
        code = run_handler(fn, env=env, termination_log=str(out))
        message = out.read_text() if out.exists() else ""
    print(message)
    print(f"exit code {code}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
