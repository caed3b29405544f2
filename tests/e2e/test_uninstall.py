"""`helm uninstall` leaves nothing behind but the CRDs the chart keeps."""

from __future__ import annotations

import json

from tests.e2e.conftest import RELEASE, SYSTEM, Release
from tests.support.poll import eventually

INSTANCE = f"app.kubernetes.io/instance={RELEASE}"


async def test_uninstall_leaves_only_the_kept_crds(release: Release) -> None:
    pv_before = json.loads(release.kubectl("get", "pv", "-o", "json").stdout)["items"]
    redis_pvs = [
        pv["metadata"]["name"] for pv in pv_before
        if (pv["spec"].get("claimRef") or {}).get("namespace") == SYSTEM
    ]  # fmt: skip
    assert redis_pvs, "the release's Redis volume should exist before the uninstall"

    release.uninstall()

    async def nothing_of_the_release() -> bool:
        # Pods go once their containers have stopped, after helm returns.
        return release.kubectl(
            "get", "all,cm,secret,sa,role,rolebinding,pvc,lease,networkpolicy",
            "-n", SYSTEM, "-l", INSTANCE, "-o", "name",
        ).stdout.split() == []  # fmt: skip

    await eventually(nothing_of_the_release, within=90, what="the release's objects to go")
    cluster_wide = release.kubectl(
        "get", "clusterrole,clusterrolebinding,validatingwebhookconfiguration",
        "-l", INSTANCE, "-o", "name",
    ).stdout.split()  # fmt: skip
    assert cluster_wide == []
    # Everything else the operator left in its namespace: nothing but what
    # Kubernetes itself makes there (the default ServiceAccount, the root CA).
    left = release.kubectl("get", "all,cm,secret,pvc", "-n", SYSTEM, "-o", "name").stdout.split()
    assert sorted(left) == ["configmap/kube-root-ca.crt"]

    async def volume_released() -> bool:
        names = release.kubectl("get", "pv", "-o", "name").stdout.split()
        return not any(f"persistentvolume/{pv}" in names for pv in redis_pvs)

    await eventually(volume_released, within=90, what="the Redis volume to be deleted")
    crds = release.kubectl("get", "crd", "-o", "name").stdout.split()
    assert "customresourcedefinition.apiextensions.k8s.io/backgroundjobs.bgjobs.io" in crds
    assert "customresourcedefinition.apiextensions.k8s.io/jobschedules.bgjobs.io" in crds
