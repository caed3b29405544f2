"""Generate ``docs/reference/crds.md`` from the same schemas as the CRDs.

``python -m bgjobs.models.reference [--check]``; a unit test fails on drift.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bgjobs.models.crd import all_crds

OUT = Path("docs/reference/crds.md")


def _type(node: dict[str, Any]) -> str:
    t = node.get("type")
    if node.get("x-kubernetes-preserve-unknown-fields") and t in (None, "object"):
        return "any JSON" if t is None else "object (free-form)"
    if t == "array":
        return f"array of {_type(node.get('items', {}))}"
    if node.get("format") == "date-time":
        return "timestamp (RFC 3339)"
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    return str(t)


def _constraints(node: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
    ):
        if key in node:
            parts.append(f"{label} {node[key]}")
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    if "default" in node:
        parts.append(f"default `{json.dumps(node['default'])}`")
    return "; ".join(parts).replace("|", "\\|")


def _rows(node: dict[str, Any], prefix: str) -> list[str]:
    rows = []
    required = set(node.get("required", []))
    for name, sub in (node.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        desc = (sub.get("description") or "").replace("|", "\\|").replace("\n", " ")
        req = " (required)" if name in required else ""
        rows.append(f"| `{path}`{req} | {_type(sub)} | {desc} | {_constraints(sub)} |")
        if sub.get("type") == "object" and sub.get("properties"):
            rows += _rows(sub, path)
        if sub.get("type") == "array" and (sub.get("items") or {}).get("properties"):
            rows += _rows(sub["items"], f"{path}[]")
    return rows


def render() -> str:
    out = [
        "# CRD reference",
        "",
        "Generated from `operator/bgjobs/models` by `make docs-reference`: do not edit.",
        "The same schemas are the CRDs in `crds/`; the API server enforces them.",
    ]
    for crd in all_crds().values():
        names = crd["spec"]["names"]
        version = crd["spec"]["versions"][0]
        schema = version["schema"]["openAPIV3Schema"]
        out += [
            "",
            f"## {names['kind']} (`{crd['spec']['group']}/{version['name']}`)",
            "",
            schema.get("description", ""),
            "",
            f"Plural `{names['plural']}`, short names "
            + ", ".join(f"`{s}`" for s in names.get("shortNames", []))
            + ". Columns of `kubectl get`: "
            + ", ".join(c["name"] for c in version.get("additionalPrinterColumns", []))
            + ".",
        ]
        for rule in schema.get("x-kubernetes-validations", []):
            out.append(f"\nRule: {rule['message']} (`{rule['rule'][:80]}...`).")
        for part in ("spec", "status"):
            node = schema["properties"][part]
            out += [
                "",
                f"### {part}",
                "",
                "| field | type | meaning | constraints |",
                "| --- | --- | --- | --- |",
            ]
            out += _rows(node, part)
            for rule in node.get("x-kubernetes-validations", []):
                out.append(f"\nRule: {rule['message']}.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run `make docs-reference`", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
