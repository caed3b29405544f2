"""Generate the CustomResourceDefinitions from the models.

``python -m bgjobs.models.crd [--check] [DIR]`` writes (or compares) one YAML
file per kind into ``crds/``. A unit test fails when the committed files
drift from the models, so the models stay the single source of truth.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from bgjobs import API_GROUP, API_VERSION
from bgjobs.models import backgroundjob as bj
from bgjobs.models import jobschedule as js
from bgjobs.models.openapi import structural

HEADER = "# Generated from operator/bgjobs/models by `make crds`: do not edit.\n"

# Fields of a BackgroundJob's spec that may not change once it has started.
_FROZEN = ["priority", "payload", "retryPolicy", "timeout", "runAt", "delay"]


def _same(field: str) -> str:
    return (
        f"(has(self.spec.{field}) == has(oldSelf.spec.{field}) && "
        f"(!has(self.spec.{field}) || self.spec.{field} == oldSelf.spec.{field}))"
    )


IMMUTABLE_ONCE_STARTED = {
    "rule": (
        "!has(oldSelf.status) || !has(oldSelf.status.startedAt) || "
        "(self.spec.type == oldSelf.spec.type && " + " && ".join(_same(f) for f in _FROZEN) + ")"
    ),
    "message": "spec is immutable once the job has started, except spec.cancel and "
    "spec.ttlAfterFinished",
    "reason": "FieldValueForbidden",
    "fieldPath": ".spec",
}


def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    return structural(model.model_json_schema(by_alias=True, mode="validation"))


def _conditions_as_map(status: dict[str, Any]) -> None:
    conditions = status["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    conditions["items"]["required"] = ["type", "status"]


def backgroundjob_crd() -> dict[str, Any]:
    status = _model_schema(bj.BackgroundJobStatus)
    _conditions_as_map(status)
    schema = {
        "type": "object",
        "description": "One unit of background work: run the handler registered for spec.type "
        "once, retrying by policy, and record the outcome.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _model_schema(bj.BackgroundJobSpec),
            "status": status,
        },
        "x-kubernetes-validations": [IMMUTABLE_ONCE_STARTED],
    }
    columns: list[dict[str, Any]] = [
        {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
        {"name": "Priority", "type": "string", "jsonPath": ".status.priority"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Retries", "type": "integer", "jsonPath": ".status.retryCount"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Reason", "type": "string", "jsonPath": ".status.reason", "priority": 1},
    ]
    return _crd(
        bj.KIND, bj.PLURAL, bj.SINGULAR, bj.SHORT_NAMES, columns, schema, bj.SELECTABLE_FIELDS
    )


def jobschedule_crd() -> dict[str, Any]:
    status = _model_schema(js.JobScheduleStatus)
    _conditions_as_map(status)
    spec = _model_schema(js.JobScheduleSpec)
    schema = {
        "type": "object",
        "description": "Creates BackgroundJobs from a template on a cron schedule.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    columns: list[dict[str, Any]] = [
        {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
        {"name": "TimeZone", "type": "string", "jsonPath": ".spec.timeZone"},
        {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
        {"name": "Last", "type": "date", "jsonPath": ".status.lastScheduleTime"},
        {"name": "Next", "type": "string", "jsonPath": ".status.nextScheduleTime"},
        {"name": "Runs", "type": "integer", "jsonPath": ".status.runCount"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "priority": 1},
    ]
    return _crd(js.KIND, js.PLURAL, js.SINGULAR, js.SHORT_NAMES, columns, schema)


def _crd(
    kind: str,
    plural: str,
    singular: str,
    short_names: list[str],
    columns: list[dict[str, Any]],
    schema: dict[str, Any],
    selectable: list[str] | None = None,
) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": API_VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "additionalPrinterColumns": columns,
    }
    if selectable:
        version["selectableFields"] = [{"jsonPath": f".{path}"} for path in selectable]
    version["schema"] = {"openAPIV3Schema": schema}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{API_GROUP}",
            "labels": {"app.kubernetes.io/name": "bgjobs", "app.kubernetes.io/part-of": "bgjobs"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": singular,
                "shortNames": short_names,
                "categories": ["bgjobs"],
            },
            "versions": [version],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """File name → CRD object."""
    return {
        f"{API_GROUP}_{bj.PLURAL}.yaml": backgroundjob_crd(),
        f"{API_GROUP}_{js.PLURAL}.yaml": jobschedule_crd(),
    }


def render(crd: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(crd, sort_keys=False, allow_unicode=True, width=100)


CHART_CRDS = Path("charts/bgjobs/templates/crds.yaml")


def render_chart() -> str:
    """The chart's copy: the same CRDs, kept on uninstall, behind crds.install."""
    docs = []
    for crd in all_crds().values():
        kept = copy.deepcopy(crd)
        kept["metadata"]["annotations"] = {"helm.sh/resource-policy": "keep"}
        docs.append(yaml.safe_dump(kept, sort_keys=False, allow_unicode=True, width=100))
    return (
        "{{- if .Values.crds.install }}\n"
        "# Generated from operator/bgjobs/models by `make crds`: do not edit.\n"
        + "---\n".join(docs)
        + "{{- end }}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the generated CRDs.")
    parser.add_argument("directory", nargs="?", default="crds", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if the files differ")
    args = parser.parse_args(argv)
    stale = []
    for name, crd in all_crds().items():
        path: Path = args.directory / name
        text = render(crd)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    chart = args.directory.parent / CHART_CRDS if args.directory.name == "crds" else CHART_CRDS
    text = render_chart()
    if args.check:
        if not chart.exists() or chart.read_text() != text:
            stale.append(str(chart))
    elif chart.parent.exists():
        chart.write_text(text)
        print(f"wrote {chart}")
    if stale:
        print("out of date (run `make crds`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
