"""The Helm chart: lint, rendered objects per ci/*-values.yaml, install/upgrade/uninstall.

Install, upgrade and uninstall run on a second local kwok cluster of their
own, so that the chart can own the CRDs without disturbing the other tests.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bgjobs.models.crd import all_crds
from bgjobs.models.registry import parse_registry
from tests.support.cluster import ROOT, Cluster, kubectl, tool_bin
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually_sync
from tests.support.redis_server import RedisServer, free_port

CHART = ROOT / "charts" / "bgjobs"
KUBE_VERSION = "1.34.4"


def helm(
    *args: str, kubeconfig: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if kubeconfig:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [str(tool_bin() / "helm"), *args],
        capture_output=True,
        text=True,
        env=env,
        check=check,
        timeout=300,
    )


def render(values: Path | None = None, *sets: str) -> list[dict[str, Any]]:
    args = ["template", "rel", str(CHART), "-n", "bgjobs", "--kube-version", KUBE_VERSION]
    if values:
        args += ["-f", str(values)]
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml.safe_load_all(helm(*args).stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_helm_lint() -> None:
    out = helm("lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION)
    assert "0 chart(s) failed" in out.stdout
    for values in sorted((CHART / "ci").glob("*-values.yaml")):
        helm("lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION, "-f", str(values))


def test_crds_in_the_chart_equal_crds_dir() -> None:
    docs = by_kind(render(CHART / "ci" / "default-values.yaml"), "CustomResourceDefinition")
    assert [d["metadata"]["annotations"] for d in docs] == [{"helm.sh/resource-policy": "keep"}] * 2
    for doc in docs:
        del doc["metadata"]["annotations"]
    committed = [yaml.safe_load((ROOT / "crds" / name).read_text()) for name in all_crds()]
    assert docs == committed
    assert by_kind(render(None, "crds.install=false"), "CustomResourceDefinition") == []


EXPECTED_RULES = {
    ("bgjobs.io", "backgroundjobs"): {"get", "list", "watch", "create", "patch", "delete"},
    ("bgjobs.io", "jobschedules"): {"get", "list", "watch"},
    ("bgjobs.io", "backgroundjobs/status"): {"get", "patch"},
    ("bgjobs.io", "jobschedules/status"): {"get", "patch"},
    ("bgjobs.io", "backgroundjobs/finalizers"): {"update"},
    ("bgjobs.io", "jobschedules/finalizers"): {"update"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "delete", "patch"},
    ("", "pods"): {"list"},
    ("", "events"): {"create", "patch"},
}
CRD_DISCOVERY = {("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}}


def rules_of(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out[(group, resource)] = set(rule["verbs"])
    return out


def test_rbac_has_the_least_verbs() -> None:
    docs = render(CHART / "ci" / "default-values.yaml")
    (cluster_role,) = by_kind(docs, "ClusterRole")
    assert rules_of(cluster_role) == EXPECTED_RULES | CRD_DISCOVERY
    roles = {r["metadata"]["name"]: r for r in by_kind(docs, "Role")}
    registry = roles["rel-bgjobs-registry"]["rules"]
    assert registry == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["rel-bgjobs-registry"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    assert rules_of(roles["rel-bgjobs-cleanup"]) == {
        ("bgjobs.io", "backgroundjobs"): {"list", "delete"}
    }


def test_namespaced_install_uses_roles_and_namespace_flags() -> None:
    docs = render(CHART / "ci" / "namespaced-values.yaml")
    # Nothing cluster-wide: a namespace admin can install it (the operator
    # turns kopf's cluster-wide scanning off when given namespaces).
    assert by_kind(docs, "ClusterRole") == by_kind(docs, "ClusterRoleBinding") == []
    operator_roles = [r for r in by_kind(docs, "Role") if r["metadata"]["name"] == "rel-bgjobs"]
    assert sorted(r["metadata"]["namespace"] for r in operator_roles) == ["app", "reports"]
    assert all(rules_of(r) == EXPECTED_RULES for r in operator_roles)
    (deploy,) = by_kind(docs, "Deployment")
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=app" in args
    assert "--namespace=reports" in args
    assert "--all-namespaces" not in args


def test_pods_are_hardened() -> None:
    docs = render(CHART / "ci" / "default-values.yaml")
    (deploy,) = by_kind(docs, "Deployment")
    (redis,) = by_kind(docs, "StatefulSet")
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    for workload in (deploy, redis):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = pod["containers"]
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["limits"]["memory"]
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert "--log-format=json" in container["args"]


def test_registry_configmap_carries_the_handlers() -> None:
    docs = render(CHART / "ci" / "full-values.yaml")
    (cm,) = by_kind(docs, "ConfigMap")
    registry = parse_registry(cm["data"]["registry.yaml"])
    assert registry.max_concurrent_jobs == 25
    assert registry.priority_aging == "10m"
    assert set(registry.handlers) == {"email", "cleanup"}
    email = registry.handlers["email"]
    assert (email.timeout, email.concurrency, email.env_from) == (
        "30s",
        10,
        [{"secretRef": {"name": "smtp"}}],
    )
    assert registry.handlers["cleanup"].service_account_name == "bgjobs-cleanup"
    assert registry.handlers["cleanup"].ttl_after_finished == "24h"
    assert registry.ttl_after_finished == "168h"
    empty = by_kind(render(CHART / "ci" / "external-redis-values.yaml"), "ConfigMap")[0]
    assert parse_registry(empty["data"]["registry.yaml"]).handlers == {}


def test_redis_variants() -> None:
    builtin = render(CHART / "ci" / "default-values.yaml")
    (sts,) = by_kind(builtin, "StatefulSet")
    assert (
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    )
    assert "--appendonly" in sts["spec"]["template"]["spec"]["containers"][0]["args"]
    secrets = {s["metadata"]["name"]: s for s in by_kind(builtin, "Secret")}
    assert len(secrets["rel-bgjobs-redis"]["data"]["password"]) > 20
    env = {
        e["name"]: e
        for e in by_kind(builtin, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0][
            "env"
        ]
    }
    assert env["BGJOBS_REDIS_URL"]["value"] == "redis://rel-bgjobs-redis.bgjobs.svc:6379/0"
    assert env["BGJOBS_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "rel-bgjobs-redis"

    external = render(CHART / "ci" / "external-redis-values.yaml")
    assert by_kind(external, "StatefulSet") == []
    # No Redis password Secret (only the webhook's certificate).
    assert [s["type"] for s in by_kind(external, "Secret")] == ["kubernetes.io/tls"]
    env = {
        e["name"]: e
        for e in by_kind(external, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0][
            "env"
        ]
    }
    assert env["BGJOBS_REDIS_URL"]["value"] == "redis://redis.shared.svc:6379/3"
    assert env["BGJOBS_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "shared-redis",
        "key": "redis-password",
    }


def test_redis_behind_sentinel() -> None:
    docs = render(
        None,
        "redis.enabled=false",
        "redis.sentinel.addresses={sentinel-0.redis:26379,sentinel-1.redis:26379}",
        "redis.sentinel.master=jobs",
    )
    (deployment,) = by_kind(docs, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    sentinel_args = [a for a in container["args"] if a.startswith("--redis-sentinel")]
    assert sentinel_args == [
        "--redis-sentinel=sentinel-0.redis:26379",
        "--redis-sentinel=sentinel-1.redis:26379",
        "--redis-sentinel-master=jobs",
    ]
    assert by_kind(docs, "StatefulSet") == []


def test_an_external_redis_cluster() -> None:
    docs = render(
        None, "redis.enabled=false", "redis.url=redis://node-0.redis:6379/0", "redis.cluster=true"
    )
    (deployment,) = by_kind(docs, "Deployment")
    assert "--redis-cluster" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    (deployment,) = by_kind(render(None), "Deployment")
    assert "--redis-cluster" not in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        (["redis.cluster=true"], "set redis.enabled=false"),
        (
            ["redis.enabled=false", "redis.cluster=true", "redis.sentinel.addresses={s:26379}"],
            "choose one",
        ),
    ],
)
def test_redis_settings_that_cannot_work_are_refused(sets: list[str], says: str) -> None:
    args = ["template", "rel", str(CHART), "--kube-version", KUBE_VERSION]
    out = helm(*args, *(a for s in sets for a in ("--set", s)), check=False)
    assert out.returncode != 0
    assert says in out.stderr


def test_optional_objects() -> None:
    full = render(CHART / "ci" / "full-values.yaml")
    assert len(by_kind(full, "ServiceMonitor")) == 1
    assert {n["metadata"]["name"] for n in by_kind(full, "NetworkPolicy")} == {
        "rel-bgjobs-redis",
        "rel-bgjobs-operator",
    }
    (schedule,) = by_kind(full, "JobSchedule")
    assert schedule["spec"]["schedule"] == "30 2 * * *"
    assert schedule["spec"]["jobTemplate"]["spec"]["type"] == "cleanup"
    (sts,) = by_kind(full, "StatefulSet")
    assert "volumeClaimTemplates" not in sts["spec"]
    default = render(CHART / "ci" / "default-values.yaml")
    assert (
        by_kind(default, "ServiceMonitor")
        == by_kind(default, "NetworkPolicy")
        == by_kind(default, "JobSchedule")
        == []
    )


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("handlers.email.timeout=5x", "/handlers/email"),
        ("maxConcurrentJobs=-1", "/maxConcurrentJobs"),
        ("operator.logFormat=xml", "/operator/logFormat"),
        ("handlers.Bad_Type.image=x", "Bad_Type"),
        ("redis.persistence.size=lots", "/redis/persistence/size"),
        ("replicaCount=9", "/replicaCount"),
        ("redis.sentinel.addresses={sentinel-without-port}", "/redis/sentinel/addresses/0"),
    ],
)
def test_values_that_break_the_schema_are_refused(
    helm_cluster: Path, value: str, named: str
) -> None:
    out = helm(
        "install",
        "bad",
        str(CHART),
        "-n",
        "bgjobs",
        "--create-namespace",
        "--set",
        value,
        kubeconfig=helm_cluster,
        check=False,
    )
    assert out.returncode != 0
    assert "values don't meet the specifications of the schema" in out.stderr
    assert named in out.stderr
    listed = helm("list", "-n", "bgjobs", "-q", kubeconfig=helm_cluster).stdout.split()
    assert "bad" not in listed


@pytest.fixture(scope="module")
def helm_cluster(cluster: Cluster) -> Iterator[Path]:
    if not cluster.fake_pods:
        pytest.skip("install tests run on a local kwok cluster of their own")
    env = {
        **os.environ,
        "BGJOBS_CLUSTER": "bgjobs-helm",
        "BGJOBS_KUBECONFIG": str(ROOT / ".cluster" / "helm-kubeconfig"),
    }
    subprocess.run(
        [str(ROOT / "hack" / "cluster.sh"), "up"], env=env, check=True, capture_output=True
    )
    yield Path(env["BGJOBS_KUBECONFIG"])
    subprocess.run(
        [str(ROOT / "hack" / "cluster.sh"), "down"], env=env, check=False, capture_output=True
    )


def kubectl_out(kubeconfig: Path, *args: str) -> str:
    done = subprocess.run(
        [kubectl(), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def test_install_upgrade_uninstall(helm_cluster: Path) -> None:
    def get(*args: str) -> str:
        return kubectl_out(helm_cluster, "get", *args)

    release = ["-l", "app.kubernetes.io/instance=rel", "-o", "name"]
    password_of = ["secret", "rel-bgjobs-redis", "-n", "bgjobs", "-o", "jsonpath={.data.password}"]
    values = str(CHART / "ci" / "default-values.yaml")
    helm(
        "install",
        "rel",
        str(CHART),
        "-n",
        "bgjobs",
        "--create-namespace",
        "-f",
        values,
        kubeconfig=helm_cluster,
    )
    objects = get("deploy,sts,svc,cm,sa,secret,role,rolebinding", "-n", "bgjobs", *release).split()
    assert "deployment.apps/rel-bgjobs" in objects
    assert "statefulset.apps/rel-bgjobs-redis" in objects
    crds = get("crd", "-o", "name")
    assert "backgroundjobs.bgjobs.io" in crds
    assert "jobschedules.bgjobs.io" in crds
    password = get(*password_of)

    helm(
        "upgrade",
        "rel",
        str(CHART),
        "-n",
        "bgjobs",
        "-f",
        values,
        "--set",
        "handlers.report.image=bgjobs/handler-report:0.1.0",
        kubeconfig=helm_cluster,
    )
    registry_yaml = get(
        "cm", "rel-bgjobs-registry", "-n", "bgjobs", "-o", "jsonpath={.data.registry\\.yaml}"
    )
    assert set(parse_registry(registry_yaml).handlers) == {"email", "report"}
    assert get(*password_of) == password, "the generated Redis password must survive an upgrade"

    helm("uninstall", "rel", "-n", "bgjobs", "--wait", kubeconfig=helm_cluster)
    assert get("all,cm,sa,secret,role,rolebinding,pvc", "-n", "bgjobs", *release).split() == []
    assert get("clusterrole,clusterrolebinding", *release).split() == []
    assert "backgroundjobs.bgjobs.io" in get("crd", "-o", "name"), "CRDs are kept on uninstall"


class Hooked:
    """The operator on the host, serving the webhook (generated certificates)
    that it registers as ``test.bgjobs.io``, for namespace ``hooked``."""

    def __init__(self, kubeconfig: Path, op: OperatorProcess) -> None:
        self.kc = [kubectl(), "--kubeconfig", str(kubeconfig)]
        self.op = op

    def kubectl(
        self, *args: str, doc: dict[str, Any] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.kc, "-n", "hooked", *args],
            input=yaml.safe_dump(doc) if doc is not None else None,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def apply(self, doc: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return self.kubectl("apply", "-f", "-", doc=doc)


@contextlib.contextmanager
def hooked_operator(
    kubeconfig: Path, tmp_path: Path, registry_doc: dict[str, Any]
) -> Iterator[Hooked]:
    kc = [kubectl(), "--kubeconfig", str(kubeconfig)]
    subprocess.run([*kc, "create", "namespace", "hooked"], capture_output=True, check=False)
    subprocess.run(
        [*kc, "apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds")],
        capture_output=True,
        check=True,
    )
    port = free_port()
    with RedisServer() as redis:
        op = OperatorProcess(
            namespace="hooked",
            redis_url=redis.url,
            prefix="hooked:",
            workdir=tmp_path,
            kubeconfig=kubeconfig,
            extra_args=[
                "--webhook-port",
                str(port),
                "--webhook-addr",
                "127.0.0.1",
                "--webhook-manage",
                "test.bgjobs.io",
            ],
        )
        op.write_registry(registry_doc)
        try:
            op.start()

            def registered() -> bool:
                got = subprocess.run(
                    [*kc, "get", "validatingwebhookconfiguration", "test.bgjobs.io"],
                    capture_output=True,
                )
                return got.returncode == 0

            eventually_sync(registered, within=30, interval=0.2, what="the webhook registration")
            yield Hooked(kubeconfig, op)
        finally:
            op.stop()
            subprocess.run(
                [
                    *kc,
                    "delete",
                    "validatingwebhookconfiguration",
                    "test.bgjobs.io",
                    "--ignore-not-found",
                ],
                capture_output=True,
            )


def test_webhook_refuses_what_the_schema_cannot(helm_cluster: Path, tmp_path: Path) -> None:
    registry_doc = {"maxPayloadBytes": 1024, "handlers": {"email": {"image": "x"}}}
    with hooked_operator(helm_cluster, tmp_path, registry_doc) as hooked:
        apply = hooked.apply
        bad_cron: dict[str, Any] = {
            "apiVersion": "bgjobs.io/v1alpha1",
            "kind": "JobSchedule",
            "metadata": {"name": "bad-cron"},
            "spec": {"schedule": "61 * * * *", "jobTemplate": {"spec": {"type": "email"}}},
        }
        out = apply(bad_cron)
        assert out.returncode != 0
        assert "spec.schedule" in out.stderr
        assert "not a valid cron expression" in out.stderr

        big = {
            "apiVersion": "bgjobs.io/v1alpha1",
            "kind": "BackgroundJob",
            "metadata": {"name": "big"},
            "spec": {"type": "email", "payload": {"x": "y" * 2000}},
        }
        out = apply(big)
        assert out.returncode != 0
        assert "spec.payload" in out.stderr
        assert "over the 1024-byte cap" in out.stderr

        unknown = {**big, "metadata": {"name": "typo"}, "spec": {"type": "emial"}}
        out = apply(unknown)
        assert out.returncode != 0
        assert "no handler is registered for 'emial'" in out.stderr

        good_job = {
            **big,
            "metadata": {"name": "fine"},
            "spec": {"type": "email", "payload": {}},
        }
        good_schedule = {
            **bad_cron,
            "metadata": {"name": "daily"},
            "spec": {**bad_cron["spec"], "schedule": "0 9 * * *", "timeZone": "Europe/Berlin"},
        }
        assert apply(good_job).returncode == 0
        assert apply(good_schedule).returncode == 0


def test_after_its_type_is_removed_a_job_can_still_be_cancelled_relabelled_and_deleted(
    helm_cluster: Path, tmp_path: Path
) -> None:
    """Admission judges what changed: today's registry does not lock old objects in."""
    both = {"handlers": {"email": {"image": "x"}, "report": {"image": "y"}}}
    with hooked_operator(helm_cluster, tmp_path, both) as hooked:
        job = {
            "apiVersion": "bgjobs.io/v1alpha1",
            "kind": "BackgroundJob",
            "metadata": {"name": "orphan", "finalizers": ["test.bgjobs.io/hold"]},
            "spec": {"type": "report", "payload": {"x": "y" * 500}},
        }
        assert hooked.apply(job).returncode == 0
        hooked.op.write_registry({"maxPayloadBytes": 100, "handlers": {"email": {"image": "x"}}})

        # Wait until the webhook judges by the new registry: a new report job is refused.
        # (Each probe a new object: applying one that was let in would be an unchanged UPDATE.)
        probes = (f"probe-{i}" for i in itertools.count())

        def refused_by_the_new_registry() -> bool:
            probe = {**job, "metadata": {"name": next(probes)}, "spec": {"type": "report"}}
            return "no handler is registered for 'report'" in hooked.apply(probe).stderr

        eventually_sync(
            refused_by_the_new_registry,
            within=30,
            interval=0.5,
            what="the registry change to reach the webhook",
        )

        def ok(*args: str) -> None:
            out = hooked.kubectl(*args)
            assert out.returncode == 0, out.stderr

        ok("patch", "backgroundjob", "orphan", "--type=merge", "-p", '{"spec":{"cancel":true}}')
        ok("label", "backgroundjob", "orphan", "team=payments")
        # Not everything passes: a change of its spec is still refused.
        out = hooked.kubectl(
            "patch",
            "backgroundjob",
            "orphan",
            "--type=merge",
            "-p",
            '{"spec":{"payload":{"x":"z"}}}',
        )
        assert out.returncode != 0
        assert "spec" in out.stderr
        ok("delete", "backgroundjob", "orphan", "--wait=false")
        ok(
            "patch",
            "backgroundjob",
            "orphan",
            "--type=json",
            "-p",
            '[{"op":"remove","path":"/metadata/finalizers"}]',
        )
        eventually_sync(
            lambda: hooked.kubectl("get", "backgroundjob", "orphan").returncode != 0,
            within=30,
            interval=0.2,
            what="the job to be deleted",
        )


def test_webhook_on_and_off() -> None:
    on = render(CHART / "ci" / "webhook-values.yaml")
    (vwc,) = by_kind(on, "ValidatingWebhookConfiguration")
    hooks = {w["name"]: w for w in vwc["webhooks"]}
    assert set(hooks) == {
        "backgroundjobs.rel-bgjobs.bgjobs.io",
        "jobschedules.rel-bgjobs.bgjobs.io",
    }
    for hook in hooks.values():
        service = hook["clientConfig"]["service"]
        assert service["name"] == "rel-bgjobs-webhook"
        assert hook["clientConfig"]["caBundle"]
        assert hook["failurePolicy"] == "Fail"
        assert hook["namespaceSelector"]["matchExpressions"][0]["values"] == ["app", "reports"]
    assert (
        hooks["jobschedules.rel-bgjobs.bgjobs.io"]["clientConfig"]["service"]["path"]
        == "/jobschedules"
    )
    secrets = {s["metadata"]["name"]: s for s in by_kind(on, "Secret")}
    assert set(secrets["rel-bgjobs-webhook-tls"]["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    container = by_kind(on, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert "--webhook-cert=/webhook-tls/tls.crt" in container["args"]
    assert container["volumeMounts"] == [
        {"name": "webhook-tls", "mountPath": "/webhook-tls", "readOnly": True}
    ]
    (default,) = by_kind(
        render(CHART / "ci" / "default-values.yaml"), "ValidatingWebhookConfiguration"
    )
    assert {hook["failurePolicy"] for hook in default["webhooks"]} == {"Ignore"}
    off = render(CHART / "ci" / "default-values.yaml", "webhook.enabled=false")
    assert by_kind(off, "ValidatingWebhookConfiguration") == []
    assert not any(
        "--webhook" in a
        for a in by_kind(off, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    )


def test_several_replicas_elect_a_leader() -> None:
    docs = render(CHART / "ci" / "default-values.yaml", "replicaCount=3")
    (deploy,) = by_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-elect=bgjobs/rel-bgjobs" in args
    registry_role = next(
        r for r in by_kind(docs, "Role") if r["metadata"]["name"] == "rel-bgjobs-registry"
    )
    lease_rules = [r for r in registry_role["rules"] if r["apiGroups"] == ["coordination.k8s.io"]]
    assert lease_rules == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["rel-bgjobs"],
            "verbs": ["get", "update"],
        },
    ]
