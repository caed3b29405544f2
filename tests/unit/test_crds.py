"""The committed CRDs are exactly what the models generate."""

from pathlib import Path

from bgjobs.models.crd import all_crds, render

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_committed_crds_match_the_models() -> None:
    for name, crd in all_crds().items():
        path = CRDS / name
        assert path.exists(), f"{path} missing: run `make crds`"
        assert path.read_text() == render(crd), f"{path} drifted from the models: run `make crds`"


def test_backgroundjob_crd_has_the_contract_names_and_columns() -> None:
    crd = all_crds()["bgjobs.io_backgroundjobs.yaml"]
    names = crd["spec"]["names"]
    assert (names["plural"], names["kind"]) == ("backgroundjobs", "BackgroundJob")
    assert names["shortNames"] == ["bgjob", "bgj"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c.get("priority", 0) for c in version["additionalPrinterColumns"]}
    assert columns == {"Type": 0, "Priority": 0, "Phase": 0, "Retries": 0, "Age": 0, "Reason": 1}
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["payload"]["x-kubernetes-preserve-unknown-fields"] is True
    assert spec["properties"]["priority"]["enum"] == ["Low", "Normal", "High", "Urgent"]
    assert spec["required"] == ["type"]


def test_crd_reference_doc_matches_the_models() -> None:
    from bgjobs.models.reference import render

    doc = CRDS.parent / "docs" / "reference" / "crds.md"
    assert doc.read_text() == render(), "docs/reference/crds.md drifted: run `make docs-reference`"
