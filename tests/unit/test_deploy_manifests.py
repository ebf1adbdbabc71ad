"""The production deployment manifests of infra/deploy, validated offline (docs/deployment.md).

- `compose.yaml` against the Compose Specification's JSON schema, vendored in
  infra/deploy/schemas/ (compose-go v2.17.0's copy);
- every Kubernetes object of infra/deploy/k8s against the Kubernetes JSON schemas bundled by
  `kubernetes-validate` (strict: an unknown field is an error), the KEDA objects against the
  `openAPIV3Schema` of KEDA's CRDs (kedacore/keda v2.21.0), vendored beside it;
- and what no schema knows: every FRESHINDEX_* variable is a setting, every image is pinned,
  every container has resource requests and probes, secrets are only referenced, the Triton
  model repository exists, the commands are the CLI's, the scaling targets, selectors and names
  agree. Each check also runs on a broken copy, which it must refuse.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer.main
import yaml

from infra.cli import app
from schemas import settings as settings_module
from schemas.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "infra" / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = DEPLOY / "schemas"
COMPOSE = DEPLOY / "compose.yaml"
KUBERNETES_VERSION = "1.34"  # the oldest supported release at writing; pod-index label: >= 1.28
KEDA_SCHEMAS = {
    "ScaledObject": "keda-scaledobject-v1alpha1.json",
    "TriggerAuthentication": "keda-triggerauthentication-v1alpha1.json",
}
SECRET_WORDS = ("PASSWORD", "API_KEY", "ALLOWED_KEYS", "SECRET", "TOKEN")
PLACEHOLDER = "REPLACE_ME"

Obj = dict[str, Any]


# --- loading -------------------------------------------------------------------------------


def compose() -> Obj:
    loaded: Obj = yaml.safe_load(COMPOSE.read_text())
    return loaded


def k8s_files() -> list[str]:
    files: list[str] = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    return files


def k8s_objects() -> list[Obj]:
    return [doc for name in k8s_files() for doc in yaml.safe_load_all((K8S / name).read_text())]


def by_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet"):
            yield o["metadata"]["name"], o["spec"]["template"]["spec"]


def containers(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for name, spec in pod_specs(objects):
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            yield f"{name}/{c['name']}", c


# --- validators ----------------------------------------------------------------------------


def compose_errors(document: Obj) -> list[str]:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def _closed(schema: Any) -> Any:
    """The CRD schema as the API server applies it: fields not in `properties` are pruned there,
    so here they are errors (a misspelt field would otherwise pass silently)."""
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def keda_errors(obj: Obj) -> list[str]:
    schema = _closed(json.loads((SCHEMAS / KEDA_SCHEMAS[obj["kind"]]).read_text()))
    schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta: checked by name below
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]


def k8s_errors(obj: Obj) -> list[str]:
    if obj["kind"] in KEDA_SCHEMAS:
        return keda_errors(obj)
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{obj['kind']}/{obj['metadata'].get('name')}: {e.message}"]
    return []


# --- project checks (each returns its problems; a broken copy must have some) --------------


def setting_env_names() -> set[str]:
    names = {f"FRESHINDEX_{field.upper()}" for field in Settings.model_fields}
    assert "FRESHINDEX_HOME" in inspect.getsource(settings_module.home_dir)
    return names | {"FRESHINDEX_HOME"}  # read by schemas.settings.home_dir, not a field


def secret_settings() -> set[str]:
    fields = Settings.model_fields.items()
    return {f"FRESHINDEX_{n.upper()}" for n, f in fields if "SecretStr" in str(f.annotation)}


def unknown_settings(names: list[str]) -> list[str]:
    """FRESHINDEX_* names no setting reads. `<SECRET>_FILE` is infra/deploy/entrypoint.sh's:
    it exports the file's content as <SECRET>, so only secret settings may have one."""
    known, secret = setting_env_names(), secret_settings()
    wrong = []
    for name in names:
        if not name.startswith("FRESHINDEX_"):
            continue
        base = name.removesuffix("_FILE") if name.endswith("_FILE") else None
        if name not in known and base not in secret:
            wrong.append(name)
    return wrong


def compose_env_names(document: Obj) -> list[str]:
    return [n for s in document["services"].values() for n in s.get("environment", {})]


def k8s_env_names(objects: list[Obj]) -> list[str]:
    names = [e["name"] for _, c in containers(objects) for e in c.get("env", [])]
    return names + [k for cm in by_kind(objects, "ConfigMap").values() for k in cm["data"]]


def unpinned(images: list[str]) -> list[str]:
    def pinned(image: str) -> bool:
        if "@sha256:" in image:
            return True
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        return bool(tag) and tag != "latest" and re.search(r"\d", tag) is not None

    return [i for i in images if not pinned(i)]


def compose_service_problems(document: Obj) -> list[str]:
    problems = []
    for name, service in document["services"].items():
        if "healthcheck" not in service:
            problems.append(f"{name}: no healthcheck")
        reserved = service.get("deploy", {}).get("resources", {}).get("reservations", {})
        if not {"cpus", "memory"} <= set(reserved):
            problems.append(f"{name}: no cpus/memory reservation")
        if "image" not in service:
            problems.append(f"{name}: no image (a build needs a pinned tag too)")
    return problems


def inline_secrets_compose(document: Obj) -> list[str]:
    """A variable that names a secret must point at a file (`_FILE`, Grafana's `__FILE`)."""
    return [
        f"{name}: {var}"
        for name, service in document["services"].items()
        for var in service.get("environment", {})
        if any(w in var for w in SECRET_WORDS) and not var.endswith("_FILE")
    ]


def inline_secrets_k8s(objects: list[Obj]) -> list[str]:
    problems = []
    for where, c in containers(objects):
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if any(w in e["name"] for w in SECRET_WORDS) and not ref:
                problems.append(f"{where}: {e['name']} is not a secretKeyRef")
    for cm in by_kind(objects, "ConfigMap").values():
        problems += [f"ConfigMap: {k}" for k in cm["data"] if any(w in k for w in SECRET_WORDS)]
    for secret in by_kind(objects, "Secret").values():
        values = {**secret.get("stringData", {}), **secret.get("data", {})}
        for key, value in values.items():
            if key != "username" and value != PLACEHOLDER:
                problems.append(f"Secret {secret['metadata']['name']}/{key}: not {PLACEHOLDER}")
    return problems


def container_problems(objects: list[Obj]) -> list[str]:
    problems = []
    for where, c in containers(objects):
        requests = c.get("resources", {}).get("requests", {})
        if not {"cpu", "memory"} <= set(requests):
            problems.append(f"{where}: no cpu/memory requests")
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in c:
                problems.append(f"{where}: no {probe}")
        problems += [f"{where}: {i} not pinned" for i in unpinned([c["image"]])]
    return problems


def cli_commands() -> set[str]:
    group = typer.main.get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


def not_cli_commands(commands: list[list[str]]) -> list[list[str]]:
    known = cli_commands()
    return [c for c in commands if c[0] != "freshindex" or len(c) < 2 or c[1] not in known]


def freshindex_commands_compose(document: Obj) -> list[list[str]]:
    services = document["services"].values()
    return [s["command"] for s in services if s.get("image", "").startswith("freshindex:")]


def freshindex_commands_k8s(objects: list[Obj]) -> list[list[str]]:
    return [c["args"] for _, c in containers(objects) if "/freshindex:" in c["image"]]


def pod_labels_of(workload: Obj) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def dangling_references(objects: list[Obj]) -> list[str]:
    """secretKeyRef / configMapRef / authenticationRef / scale targets / selectors that name
    nothing in the manifests."""
    secrets = {
        n: {**s.get("stringData", {}), **s.get("data", {})}
        for n, s in by_kind(objects, "Secret").items()
    }
    problems = []
    for where, c in containers(objects):
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["key"] not in secrets.get(ref["name"], {}):
                problems.append(f"{where}: secret {ref['name']}/{ref['key']}")
        for source in c.get("envFrom", []):
            name = source.get("configMapRef", {}).get("name")
            if name and name not in by_kind(objects, "ConfigMap"):
                problems.append(f"{where}: configmap {name}")
    for auth in by_kind(objects, "TriggerAuthentication").values():
        for ref in auth["spec"].get("secretTargetRef", []):
            if ref["key"] not in secrets.get(ref["name"], {}):
                problems.append(f"TriggerAuthentication: secret {ref['name']}/{ref['key']}")
    workloads = {**by_kind(objects, "Deployment"), **by_kind(objects, "StatefulSet")}
    pod_labels = [pod_labels_of(w) for w in workloads.values()]
    for kind in ("Service", "PodDisruptionBudget"):
        for name, o in by_kind(objects, kind).items():
            selector = o["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            if not any(selector.items() <= labels.items() for labels in pod_labels):
                problems.append(f"{kind} {name}: selects no pod")
    for name, w in workloads.items():
        if not w["spec"]["selector"]["matchLabels"].items() <= pod_labels_of(w).items():
            problems.append(f"{name}: selector does not match its pods")
    scalers = [o for o in objects if o["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")]
    for o in scalers:
        target = o["spec"]["scaleTargetRef"]["name"]
        if target not in by_kind(objects, "Deployment"):
            problems.append(f"{o['kind']} {o['metadata']['name']}: no Deployment {target}")
        for trigger in o["spec"].get("triggers", []):
            auth = trigger.get("authenticationRef", {}).get("name")
            if auth and auth not in by_kind(objects, "TriggerAuthentication"):
                problems.append(f"ScaledObject: no TriggerAuthentication {auth}")
    return problems


# --- compose -------------------------------------------------------------------------------


def test_compose_matches_the_compose_spec_schema() -> None:
    assert compose_errors(compose()) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "worker", "deploy", "replicas"), [3]),  # wrong type
        (("services", "triton", "deploy", "resources", "reservations", "devices"), {"gpu": 1}),
        (("services", "api", "healthcheck", "interval"), 10),  # a duration is a string
        (("services", "api", "environment"), {"FRESHINDEX_SERVE_PORT": {"port": 8090}}),
        (("services", "kafka-1", "imagee"), "apache/kafka:4.1.1"),  # unknown field
        (("secrets", "serve_api_key"), {"path": "./secrets/serve_api_key"}),  # `file` expected
    ],
)
def test_the_compose_schema_refuses_a_broken_copy(path: tuple[str, ...], value: Any) -> None:
    broken = copy.deepcopy(compose())
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert compose_errors(broken)


def test_the_compose_schema_refuses_a_service_with_neither_image_nor_build() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["worker"]["build"] = {"dockerfile": 3}
    assert compose_errors(broken)


def test_compose_has_the_deployment_the_issue_asks_for() -> None:
    services = compose()["services"]
    kafka = {n: s for n, s in services.items() if s.get("image", "").startswith("apache/kafka:")}
    assert len(kafka) == 3 and {s["image"] for s in kafka.values()} == {"apache/kafka:4.1.1"}
    assert sorted(s["environment"]["KAFKA_NODE_ID"] for s in kafka.values()) == ["1", "2", "3"]
    for s in kafka.values():
        assert s["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
        voters = s["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert {v.split("@")[1].split(":")[0] for v in voters} == set(kafka)
    assert services["weaviate"]["image"] == "cr.weaviate.io/semitechnologies/weaviate:1.36.5"
    assert any(v.endswith(":/var/lib/weaviate") for v in services["weaviate"]["volumes"])
    assert services["weaviate"]["environment"]["AUTHENTICATION_APIKEY_ENABLED"] == "true"
    devices = services["triton"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert {"prometheus", "grafana", "api"} <= set(services)


def test_compose_services_have_healthchecks_reservations_and_pinned_images() -> None:
    document = compose()
    assert compose_service_problems(document) == []
    assert unpinned([s["image"] for s in document["services"].values()]) == []
    broken = copy.deepcopy(document)
    del broken["services"]["api"]["healthcheck"]
    broken["services"]["grafana"]["image"] = "grafana/grafana:latest"
    broken["services"]["prometheus"]["image"] = "prom/prometheus"
    assert compose_service_problems(broken) == ["api: no healthcheck"]
    assert unpinned([s["image"] for s in broken["services"].values()]) == [
        "prom/prometheus",
        "grafana/grafana:latest",
    ]


def test_compose_variables_are_settings() -> None:
    document = compose()
    names = compose_env_names(document)
    assert len([n for n in names if n.startswith("FRESHINDEX_")]) > 20
    assert unknown_settings(names) == []
    assert unknown_settings(["FRESHINDEX_TRITON_URLS", "FRESHINDEX_TRITON_URL_FILE"]) == [
        "FRESHINDEX_TRITON_URLS",
        "FRESHINDEX_TRITON_URL_FILE",  # not a secret: no _FILE form
    ]


def test_compose_secrets_are_files_outside_git() -> None:
    document = compose()
    assert inline_secrets_compose(document) == []
    for name, secret in document["secrets"].items():
        assert secret == {"file": f"./secrets/{name}"}
    assert "*" in (DEPLOY / "secrets" / ".gitignore").read_text().splitlines()
    used = {s for service in document["services"].values() for s in service.get("secrets", [])}
    assert used == set(document["secrets"])
    for service in document["services"].values():
        for var, value in service.get("environment", {}).items():
            if var.endswith("_FILE"):
                assert value.removeprefix("/run/secrets/") in service["secrets"], var
    broken = copy.deepcopy(document)
    broken["services"]["api"]["environment"]["FRESHINDEX_SERVE_API_KEY"] = "s3cret"
    assert inline_secrets_compose(broken) == ["api: FRESHINDEX_SERVE_API_KEY"]


def test_compose_runs_real_cli_commands() -> None:
    commands = freshindex_commands_compose(compose())
    assert sorted(c[1] for c in commands) == ["serve", "worker"]
    assert not_cli_commands(commands) == []
    assert not_cli_commands([["freshindex", "index-worker"]]) == [["freshindex", "index-worker"]]


def test_compose_mounts_exist_in_the_repository() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"
        if "build" in service:
            build = service["build"]
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file(), name
    triton = compose()["services"]["triton"]
    repository = DEPLOY / triton["volumes"][0].split(":")[0]
    assert repository.resolve() == ROOT / "infra" / "triton" / "model_repository_gpu"
    assert (repository / "minilm" / "config.pbtxt").is_file()


def test_compose_prometheus_keeps_the_monitoring_job_names() -> None:
    deployed = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    reference = yaml.safe_load((ROOT / "infra" / "monitoring" / "prometheus.yml").read_text())
    assert [j["job_name"] for j in deployed["scrape_configs"]] == [
        j["job_name"] for j in reference["scrape_configs"]
    ]
    assert deployed["rule_files"] == reference["rule_files"]
    ports = {j["job_name"]: j["dns_sd_configs"][0]["port"] for j in deployed["scrape_configs"]}
    env = compose()["services"]
    assert ports["freshindex-worker"] == int(
        env["worker"]["environment"]["FRESHINDEX_METRICS_PORT"]
    )
    assert ports["freshindex-api"] == int(env["api"]["environment"]["FRESHINDEX_SERVE_PORT"])


def test_dockerfiles_build_from_what_the_repository_has() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "-c constraints.txt ." in dockerfile
    for copied in re.findall(r"^COPY (\S+(?: \S+)*) \S+$", dockerfile, re.M):
        for source in copied.split():
            assert (ROOT / source).exists(), source
    triton = (DEPLOY / "triton.Dockerfile").read_text()
    (base,) = re.findall(r"^FROM (\S+)$", triton, re.M)
    assert unpinned([base]) == [] and base.startswith("nvcr.io/nvidia/tritonserver:")
    assert (ROOT / "infra/triton/model_repository_gpu").is_dir()
    assert "COPY infra/triton/model_repository_gpu /models" in triton


# --- Kubernetes ----------------------------------------------------------------------------


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(k8s_files())
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    kinds = {o["kind"] for o in k8s_objects()}
    assert kinds >= {
        "Namespace", "ConfigMap", "Secret", "StatefulSet", "Service", "Deployment",
        "HorizontalPodAutoscaler", "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication",
    }  # fmt: skip


def test_every_kubernetes_object_matches_its_schema() -> None:
    objects = k8s_objects()
    assert len(objects) > 20
    assert {o["kind"]: k8s_errors(o) for o in objects if k8s_errors(o)} == {}


@pytest.mark.parametrize(
    ("kind", "name", "mutate"),
    [
        ("Deployment", "worker", lambda o: o["spec"].__setitem__("replicas", "two")),
        ("Deployment", "api", lambda o: o["spec"]["template"]["spec"].pop("containers")),
        ("StatefulSet", "kafka", lambda o: o["spec"].__setitem__("replica", 3)),  # unknown field
        ("Service", "api", lambda o: o["spec"]["ports"][0].__setitem__("port", "http")),
        ("HorizontalPodAutoscaler", "api", lambda o: o["spec"].pop("maxReplicas")),
        ("PodDisruptionBudget", "kafka", lambda o: o["spec"].__setitem__("selector", "kafka")),
        ("ScaledObject", "worker", lambda o: o["spec"].pop("scaleTargetRef")),
        (
            "ScaledObject",
            "worker",
            lambda o: o["spec"]["triggers"][0]["metadata"].__setitem__("lagThreshold", 2048),
        ),
        ("ScaledObject", "worker", lambda o: o["spec"].__setitem__("maxReplicas", 12)),
        (
            "TriggerAuthentication",
            "kafka-sasl",
            lambda o: o["spec"]["secretTargetRef"][0].pop("key"),
        ),
    ],
)
def test_the_schemas_refuse_a_broken_copy(kind: str, name: str, mutate: Any) -> None:
    (obj,) = [
        copy.deepcopy(o)
        for o in k8s_objects()
        if (o["kind"], o["metadata"]["name"]) == (kind, name)
    ]
    assert k8s_errors(obj) == []
    mutate(obj)
    assert k8s_errors(obj)


def test_every_container_has_requests_probes_and_a_pinned_image() -> None:
    objects = k8s_objects()
    assert container_problems(objects) == []
    broken = copy.deepcopy(objects)
    worker = by_kind(broken, "Deployment")["worker"]["spec"]["template"]["spec"]["containers"][0]
    del worker["readinessProbe"]
    del worker["resources"]["requests"]["memory"]
    worker["image"] = "registry.example.com/freshindex:latest"
    assert container_problems(broken) == [
        "worker/worker: no cpu/memory requests",
        "worker/worker: no readinessProbe",
        "worker/worker: registry.example.com/freshindex:latest not pinned",
    ]


def test_every_resource_request_cites_its_source() -> None:
    for name in k8s_files():
        lines = (K8S / name).read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() == "resources:" and "requests: {cpu" in lines[i + 1]:
                comment = " ".join(lines[max(0, i - 6) : i])
                assert re.search(r"README|notes/", comment), f"{name}:{i + 1}: cite the figure"


def test_kubernetes_variables_are_settings() -> None:
    objects = k8s_objects()
    assert unknown_settings(k8s_env_names(objects)) == []
    broken = copy.deepcopy(objects)
    by_kind(broken, "ConfigMap")["freshindex-settings"]["data"]["FRESHINDEX_BATCHSIZE"] = "64"
    assert unknown_settings(k8s_env_names(broken)) == ["FRESHINDEX_BATCHSIZE"]


def test_kubernetes_secrets_are_placeholders_and_only_referenced() -> None:
    objects = k8s_objects()
    assert inline_secrets_k8s(objects) == []
    assert set(by_kind(objects, "Secret")) == {"kafka-sasl", "weaviate-api-key", "serve-api-key"}
    assert "PLACEHOLDERS, NOT SECRETS" in (K8S / "secrets.yaml").read_text()
    referenced = {
        e["name"]
        for _, c in containers(objects)
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert referenced >= secret_settings()
    broken = copy.deepcopy(objects)
    api = by_kind(broken, "Deployment")["api"]["spec"]["template"]["spec"]["containers"][0]
    api["env"].append({"name": "FRESHINDEX_SERVE_API_KEY", "value": "s3cret"})
    by_kind(broken, "Secret")["serve-api-key"]["stringData"]["api-key"] = "hunter2"
    assert inline_secrets_k8s(broken) == [
        "api/api: FRESHINDEX_SERVE_API_KEY is not a secretKeyRef",
        "Secret serve-api-key/api-key: not REPLACE_ME",
    ]


def test_kubernetes_references_resolve() -> None:
    objects = k8s_objects()
    assert dangling_references(objects) == []
    broken = copy.deepcopy(objects)
    by_kind(broken, "ScaledObject")["worker"]["spec"]["scaleTargetRef"]["name"] = "workers"
    by_kind(broken, "PodDisruptionBudget")["api"]["spec"]["selector"]["matchLabels"] = {"app": "x"}
    env = by_kind(broken, "Deployment")["worker"]["spec"]["template"]["spec"]["containers"][0][
        "env"
    ]
    env[0]["valueFrom"]["secretKeyRef"]["key"] = "user"
    assert dangling_references(broken) == [
        "worker/worker: secret kafka-sasl/user",
        "PodDisruptionBudget api: selects no pod",
        "ScaledObject worker: no Deployment workers",
    ]


def test_kubernetes_runs_real_cli_commands() -> None:
    commands = freshindex_commands_k8s(k8s_objects())
    assert sorted(c[1] for c in commands) == ["serve", "worker"]
    assert not_cli_commands(commands) == []


def test_triton_serves_the_gpu_repository_on_a_gpu_with_health_probes() -> None:
    (triton,) = [c for w, c in containers(k8s_objects()) if w == "triton/triton"]
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert "--model-repository=/models" in triton["args"]
    assert (ROOT / "infra/triton/model_repository_gpu/minilm/config.pbtxt").is_file()


def test_the_api_is_probed_on_healthz_and_readyz_and_scaled_by_an_hpa() -> None:
    objects = k8s_objects()
    (api,) = [c for w, c in containers(objects) if w == "api/api"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["api"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "api",
    }
    port = {e["name"]: e.get("value") for e in api["env"]}["FRESHINDEX_SERVE_PORT"]
    assert api["ports"][0]["containerPort"] == int(port)


def test_workers_scale_on_the_lag_of_their_own_group_and_topic() -> None:
    objects = k8s_objects()
    settings = by_kind(objects, "ConfigMap")["freshindex-settings"]["data"]
    scaled = by_kind(objects, "ScaledObject")["worker"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert meta["consumerGroup"] == settings["FRESHINDEX_CONSUMER_GROUP"]
    assert meta["topic"] == settings["FRESHINDEX_CHUNKS_TOPIC"]
    assert int(meta["lagThreshold"]) > 0
    # more consumers than partitions would idle
    assert scaled["spec"]["maxReplicaCount"] == int(settings["FRESHINDEX_TOPIC_PARTITIONS"])
    keda_sasl = {
        "PLAIN": "plaintext",
        "SCRAM-SHA-256": "scram_sha256",
        "SCRAM-SHA-512": "scram_sha512",
    }
    assert meta["sasl"] == keda_sasl[settings["FRESHINDEX_KAFKA_SASL_MECHANISM"]]
    kafka = by_kind(objects, "StatefulSet")["kafka"]
    assert kafka["spec"]["replicas"] == 3 and kafka["spec"]["volumeClaimTemplates"]
    assert kafka["spec"]["template"]["spec"]["containers"][0]["image"] == "apache/kafka:4.1.1"
    assert "HorizontalPodAutoscaler" not in {
        o["kind"]
        for o in objects
        if o.get("spec", {}).get("scaleTargetRef", {}).get("name") == "worker"
    }  # KEDA makes the workers' HPA itself


def test_every_workload_has_a_disruption_budget() -> None:
    objects = k8s_objects()
    budgets = [
        b["spec"]["selector"]["matchLabels"]
        for b in by_kind(objects, "PodDisruptionBudget").values()
    ]
    workloads = {**by_kind(objects, "Deployment"), **by_kind(objects, "StatefulSet")}
    assert len(workloads) == 5
    for name, workload in workloads.items():
        labels = pod_labels_of(workload).items()
        assert any(selector.items() <= labels for selector in budgets), name


def test_the_entrypoint_exports_secret_files_as_settings(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("s3cret\n")
    env = {
        "PATH": os.environ["PATH"],
        "FRESHINDEX_SERVE_API_KEY_FILE": str(tmp_path / "key"),
        "FRESHINDEX_WEAVIATE_API_KEY_FILE": str(tmp_path / "key"),
        "FRESHINDEX_WEAVIATE_API_KEY": "set-wins",
    }
    shell = shutil.which("sh")
    assert shell
    ran = subprocess.run(
        [shell, str(DEPLOY / "entrypoint.sh"), "env"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    seen = dict(line.split("=", 1) for line in ran.stdout.splitlines() if "=" in line)
    assert seen["FRESHINDEX_SERVE_API_KEY"] == "s3cret"  # without the newline
    assert seen["FRESHINDEX_WEAVIATE_API_KEY"] == "set-wins"
    assert not [name for name in seen if name.endswith("_FILE")]
    missing = subprocess.run(
        [shell, str(DEPLOY / "entrypoint.sh"), "true"],
        env={"PATH": os.environ["PATH"], "FRESHINDEX_SERVE_API_KEY_FILE": str(tmp_path / "no")},
        capture_output=True,
        timeout=30,
    )
    assert missing.returncode != 0  # a missing secret file stops the container
