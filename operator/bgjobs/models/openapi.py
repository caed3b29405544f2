"""Turn a pydantic JSON schema into a structural OpenAPI v3 schema for a CRD.

Kubernetes wants every node typed, no ``$ref``, no ``anyOf`` with ``null``,
``nullable`` or omission for optional fields, and
``x-kubernetes-preserve-unknown-fields`` where anything goes. pydantic emits
JSON Schema 2020-12; this module bridges the two, and nothing else.
"""

from __future__ import annotations

from typing import Any

_DROP = {"title", "x-bgjobs-duration"}
_KEEP_AS_IS = {
    "type",
    "description",
    "enum",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
    "default",
    "x-kubernetes-validations",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-int-or-string",
}


def structural(schema: dict[str, Any]) -> dict[str, Any]:
    """The structural form of a model's ``model_json_schema(by_alias=True)``."""
    defs = schema.get("$defs", {})
    return _convert(schema, defs)


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) == 1:
            return _convert({**options[0], **rest}, defs)
        if not options:
            return _convert({**rest, "x-kubernetes-preserve-unknown-fields": True}, defs)
        raise ValueError(f"cannot express anyOf {options} structurally")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key in (
            "properties",
            "items",
            "additionalProperties",
            "required",
            "$defs",
        ):
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key not in _KEEP_AS_IS:
            raise ValueError(f"schema keyword {key!r} has no structural equivalent")
        out[key] = value
    if out.get("default") is None:
        out.pop("default", None)
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return out  # typed (payload: object) or not (result: any JSON value)
    if "type" not in out:
        # Any: a free-form JSON value.
        out["x-kubernetes-preserve-unknown-fields"] = True
        return out
    if out["type"] == "object":
        props = node.get("properties", {})
        if props:
            out["properties"] = {name: _convert(sub, defs) for name, sub in props.items()}
        required = [r for r in node.get("required", []) if r in props]
        if required:
            out["required"] = required
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            if extra:
                out["additionalProperties"] = _convert(extra, defs)
            else:
                out["x-kubernetes-preserve-unknown-fields"] = True
        elif not props and extra is not False:
            out["x-kubernetes-preserve-unknown-fields"] = True
    if out["type"] == "array" and "items" in node:
        out["items"] = _convert(node["items"], defs)
    return out
