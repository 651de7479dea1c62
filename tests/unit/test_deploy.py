"""deploy/ checked as CI can without a cluster or a Docker engine.

- Every Kubernetes resource validates against its schema: Kubernetes' own kinds with
  kubernetes-validate (strict: an unknown field fails), KEDA's (ScaledObject,
  TriggerAuthentication) and the Prometheus Operator's (PodMonitor) against the models
  generated from their CRD schemas (cloudcoil-models-keda, -prometheus-operator), unknown
  fields included. A kind none knows fails.
- `docker-compose config` accepts the compose file, whatever services it holds.
- What the schemas cannot say: KEDA owns the replica count, the PodMonitor labels every
  worker's target as the alert rules expect, every worker runs locked down and
  has a disruption budget, the notifier has a mail server, the Dockerfile pins its base and runs
  as a numeric user with a readiness HEALTHCHECK.

The schema tools are CI's (`.ci/run` installs them): without one a test skips, or fails when
CI=true.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from orderflow.cluster.registry import NAMES
from tests.required import required

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.31.0"
"""The oldest Kubernetes the manifests are for: KEDA 2.16 supports 1.29 to 1.31."""
WORKER_USER = 10001


def tool(what: str, installed: bool, how: str) -> None:
    if installed:
        return
    required(f"{what} is not installed ({how})")


def module(name: str, how: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        tool(name, False, how)
        raise


def resources() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every resource in deploy/kubernetes, named ``file: kind/name``."""
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                name = f"{path.name}: {document['kind']}/{document['metadata']['name']}"
                yield name, document


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for _, r in resources() if r["kind"] == kind}


# -- schemas ----------------------------------------------------------------------------------


def test_every_kubernetes_resource_validates_against_its_schema() -> None:
    validate = module("kubernetes_validate", "pip install kubernetes-validate")
    custom = {
        "keda.sh/": module("cloudcoil.models.keda.v1alpha1", "pip install cloudcoil.models.keda"),
        "monitoring.coreos.com/": module(
            "cloudcoil.models.prometheus_operator.v1",
            "pip install cloudcoil.models.prometheus_operator",
        ),
    }
    problems: list[str] = []
    for name, resource in resources():
        group = next((g for g in custom if resource["apiVersion"].startswith(g)), None)
        if group is not None:
            problems += [f"{name}: {p}" for p in crd_problems(custom[group], resource)]
            continue
        try:
            validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except validate.ValidationError as error:
            where = ".".join(str(part) for part in error.absolute_path)
            problems.append(f"{name}: {where}: {error.message}")
        except validate.SchemaNotFoundError:
            problems.append(f"{name}: no schema for {resource['apiVersion']} in Kubernetes")
    assert problems == []


def crd_problems(models: ModuleType, resource: dict[str, Any]) -> list[str]:
    """A custom resource (KEDA's, the Prometheus Operator's) against its CRD schema as pydantic
    models: required fields and types, then every field the model does not know (pydantic
    would drop it silently; the API server would too, and the setting would never apply)."""
    from pydantic import ValidationError

    model = getattr(models, resource["kind"], None)
    if model is None:
        return [f"{resource['apiVersion']} has no kind {resource['kind']}"]
    try:
        parsed = model.model_validate(resource)
    except ValidationError as error:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
    kept = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return [f"{path}: not a field of {resource['kind']}" for path in dropped(resource, kept)]


def dropped(given: Any, kept: Any, path: str = "") -> list[str]:
    if isinstance(given, dict) and isinstance(kept, dict):
        return [
            problem
            for key, value in given.items()
            for problem in (
                dropped(value, kept[key], f"{path}.{key}".lstrip("."))
                if key in kept
                else [f"{path}.{key}".lstrip(".")]
            )
        ]
    if isinstance(given, list) and isinstance(kept, list):
        return [
            p
            for i, (g, k) in enumerate(zip(given, kept, strict=True))
            for p in dropped(g, k, f"{path}[{i}]")
        ]
    return []


def test_a_misspelt_keda_field_is_caught() -> None:
    """The check above can fail: a ScaledObject with a typo and one without its target."""
    keda = module("cloudcoil.models.keda.v1alpha1", "pip install cloudcoil.models.keda")
    scaled = of_kind("ScaledObject")["orderflow-stock"]
    typo = {**scaled, "spec": {**scaled["spec"], "minReplicas": 2}}
    assert crd_problems(keda, typo) == ["spec.minReplicas: not a field of ScaledObject"]
    untargeted = {**scaled, "spec": {k: v for k, v in scaled["spec"].items() if k != "triggers"}}
    assert crd_problems(keda, untargeted) == ["spec.triggers: Field required"]


def test_docker_compose_accepts_the_compose_file() -> None:
    compose = shutil.which("docker-compose")
    tool("docker-compose", compose is not None, "apt-get install docker-compose")
    assert compose is not None
    checked = subprocess.run(
        [
            compose,
            "--project-directory",
            str(ROOT),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COMPOSE_INTERACTIVE_NO_CLI": "1"},
    )
    assert checked.returncode == 0, checked.stderr


# -- what the schemas cannot say --------------------------------------------------------------


def test_keda_owns_the_replica_count_of_every_worker_and_can_reach_rabbitmq() -> None:
    deployments, scaled = of_kind("Deployment"), of_kind("ScaledObject")
    authentications = of_kind("TriggerAuthentication")
    assert sorted(deployments) == sorted(f"orderflow-{name}" for name in NAMES)
    assert sorted(s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()) == sorted(
        deployments
    )
    assert [d for d, spec in deployments.items() if "replicas" in spec["spec"]] == []
    for name, scaler in scaled.items():
        [trigger] = scaler["spec"]["triggers"]
        assert trigger["metadata"]["queueName"] == name.replace("-", "."), name
        assert trigger["authenticationRef"]["name"] in authentications, name
    for authentication in authentications.values():
        parameters = {ref["parameter"] for ref in authentication["spec"]["secretTargetRef"]}
        assert "host" in parameters, "the rabbitmq scaler needs its host from a Secret"


def test_every_worker_runs_locked_down_writing_only_to_its_volumes() -> None:
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == WORKER_USER, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert {mounts.get("/var/lib/orderflow"), mounts.get("/tmp")} <= volumes, name


def test_every_worker_has_a_disruption_budget_that_lets_a_single_replica_move() -> None:
    deployments, budgets = of_kind("Deployment"), of_kind("PodDisruptionBudget")
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        [budget] = [
            b
            for b in budgets.values()
            if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert budget["spec"] == {"maxUnavailable": 1, "selector": budget["spec"]["selector"]}


def test_the_pod_monitor_scrapes_every_worker_labelled_as_the_alert_rules_expect() -> None:
    [monitor] = of_kind("PodMonitor").values()
    selected = monitor["spec"]["selector"]["matchLabels"]
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]
        assert selected.items() <= pod["metadata"]["labels"].items(), name
        ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        assert endpoint["port"] in ports, name
    worker_label = {
        "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
        "targetLabel": "worker",
    }
    assert worker_label in endpoint["relabelings"]


def test_the_notifier_is_given_a_mail_server_in_kubernetes_and_compose() -> None:
    [container] = of_kind("Deployment")["orderflow-notifier"]["spec"]["template"]["spec"][
        "containers"
    ]
    sources = {next(iter(ref)): ref[next(iter(ref))] for ref in container["envFrom"]}
    smtp = of_kind("ConfigMap")[sources["configMapRef"]["name"]]["data"]
    assert smtp["ORDERFLOW_NOTIFIER_SMTP_HOST"] and int(smtp["ORDERFLOW_NOTIFIER_SMTP_PORT"])
    assert sources["secretRef"] == {"name": "orderflow-smtp", "optional": True}

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    notifier = compose["services"]["notifier"]
    settings = dict(
        line.split("=", 1)
        for env_file in notifier["env_file"]
        for line in (ROOT / env_file).read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert settings["ORDERFLOW_NOTIFIER_SMTP_HOST"] in compose["services"]


# -- the Dockerfile ---------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_image_has_a_pinned_base_a_numeric_user_and_a_readiness_healthcheck() -> None:
    steps = dockerfile()
    [base] = [arguments for instruction, arguments in steps if instruction == "FROM"]
    assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", base), base
    [user] = [arguments for instruction, arguments in steps if instruction == "USER"]
    assert user == f"{WORKER_USER}:{WORKER_USER}"
    [healthcheck] = [arguments for instruction, arguments in steps if instruction == "HEALTHCHECK"]
    assert "/readyz" in healthcheck
    [volume] = [arguments for instruction, arguments in steps if instruction == "VOLUME"]
    assert "/var/lib/orderflow" in volume


def test_the_dependencies_are_installed_before_the_code_is_copied() -> None:
    """So a change to the code reuses the dependencies' layer."""
    steps = dockerfile()
    copies = [i for i, (instruction, _) in enumerate(steps) if instruction == "COPY"]
    installs = [i for i, (instruction, a) in enumerate(steps) if "pip install" in a]
    assert steps[copies[0]][1].split()[0] == "pyproject.toml"
    assert installs[0] < copies[1], "the dependencies go in before any code is copied"
    assert "--no-deps" in steps[installs[-1]][1], "the code's install leaves them alone"
