"""Static checks of the deployment files under deploy/: every YAML file parses, the
compose stack has what a production-like run needs, and every Kubernetes Deployment is
probed on /readyz and /healthz. No container engine or cluster is needed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SERVICES = ("case", "referral", "disclosure", "notification")
HOST_PORTS = {"case": 8101, "referral": 8102, "disclosure": 8103, "notification": 8104, "credit-china": 8109}
TOPIC = "caseledger.case-events.v1"
# Only these services open sealed personal data (services/*/main.py: personal_data=True);
# the others must not be given the key ring (least privilege).
PII_SERVICES = ("case", "referral")
NO_PII_SERVICES = tuple(name for name in SERVICES if name not in PII_SERVICES)
PII_SECRET = "caseledger-personal-data-keys"
DATABASE_SECRET = "caseledger-database-urls"

YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])


def load_all(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    (doc,) = load_all(DEPLOY / "compose.yaml")
    return doc


@pytest.fixture(scope="module")
def k8s_objects() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        objects.extend(doc for doc in load_all(path) if doc.get("kind") != "Kustomization")
    return objects


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


# -- every YAML file --------------------------------------------------------------------


def test_deploy_has_yaml_files() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in YAML_FILES}
    assert {"compose.yaml", "otel-collector.yaml"} <= names
    assert any(n.startswith("k8s/") for n in names)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses(path: Path) -> None:
    docs = load_all(path)
    assert docs, f"{path} has no YAML document"
    assert all(isinstance(doc, dict) for doc in docs)


# -- compose ------------------------------------------------------------------------------


def test_compose_defines_the_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in (*SERVICES, "kafka", "kafka-init", "postgres", "otel-collector", "credit-china"):
        assert name in services, f"compose.yaml has no service {name!r}"
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert re.fullmatch(r"postgres:16(\.\d+)?(-\S+)?", services["postgres"]["image"])
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector")


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_has_its_own_database_and_the_broker(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    env = env_of(service)
    url = urlparse(env["DATABASE_URL"])
    assert url.scheme == "postgresql"
    assert url.hostname == "postgres"
    assert url.path == f"/caseledger_{name}"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["CASE_EVENTS_REPLICATION"] == "1"
    assert env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert urlparse(env["OTEL_EXPORTER_OTLP_ENDPOINT"]).hostname == "otel-collector"
    assert urlparse(env["OTEL_EXPORTER_OTLP_ENDPOINT"]).port == 4318
    assert service["command"] == [name]
    assert "healthcheck" in service
    depends = service["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["kafka-init"]["condition"] == "service_completed_successfully"


def test_compose_databases_are_distinct(compose: dict[str, Any]) -> None:
    urls = {env_of(compose["services"][name])["DATABASE_URL"] for name in SERVICES}
    assert len(urls) == len(SERVICES)


def test_compose_host_ports(compose: dict[str, Any]) -> None:
    for name, port in HOST_PORTS.items():
        published = [str(p).split(":")[0] for p in compose["services"][name]["ports"]]
        assert str(port) in published, f"{name} is not published on {port}"


def test_compose_creates_the_topic(compose: dict[str, Any]) -> None:
    init = compose["services"]["kafka-init"]
    script = " ".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    assert "kafka-topics.sh" in script
    assert TOPIC in script
    assert re.search(r"--partitions\s+6\b", script)
    assert "retention.ms=-1" in script
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_compose_kafka_is_kraft(compose: dict[str, Any]) -> None:
    env = env_of(compose["services"]["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


@pytest.mark.parametrize("name", PII_SERVICES)
def test_compose_pii_services_require_the_key_ring(compose: dict[str, Any], name: str) -> None:
    env = env_of(compose["services"][name])
    # ${PII_KEYS:?message}: compose refuses to run at all when PII_KEYS is unset or empty.
    assert re.fullmatch(r"\$\{PII_KEYS:\?[^}]+\}", env["PII_KEYS"]), env.get("PII_KEYS")


@pytest.mark.parametrize("name", NO_PII_SERVICES)
def test_compose_other_services_do_not_get_the_key_ring(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert "PII_KEYS" not in env_of(service)
    for volume in service.get("volumes") or []:
        source = volume["source"] if isinstance(volume, dict) else str(volume).split(":")[0]
        assert "pii-keys" not in source and not source.rstrip("/").endswith("auth"), (
            f"{name} mounts {source}, which holds the personal-data key"
        )


@pytest.mark.parametrize("name", SERVICES)
def test_compose_services_trust_the_development_jwks_read_only(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    env = env_of(service)
    assert env["AUTH_AUDIENCE"] == "caseledger"
    assert json.loads(env["AUTH_ISSUERS"]) == ["caseledger-dev"]  # devtools/tokens.py DEV_ISSUER
    (mount,) = [v for v in service["volumes"] if isinstance(v, dict) and v["target"] == env["AUTH_JWKS_FILE"]]
    assert mount["type"] == "bind"
    assert mount["source"] == "../var/auth/jwks.json"
    assert mount["read_only"] is True
    assert mount["target"] == f"{env['DATA_DIR']}/auth/jwks.json"


def test_postgres_init_creates_the_four_databases() -> None:
    sql = (DEPLOY / "postgres" / "init.sql").read_text(encoding="utf-8")
    for name in SERVICES:
        assert re.search(rf"CREATE DATABASE caseledger_{name}\b", sql), name


def test_collector_receives_otlp_http_and_prints() -> None:
    (config,) = load_all(DEPLOY / "otel-collector.yaml")
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    assert "debug" in config["exporters"]
    assert "otlp" in config["service"]["pipelines"]["traces"]["receivers"]


# -- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "python:3.11-slim" in text
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0")), "the image must end as a non-root user"
    instructions = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "pip install ." in instructions
    assert "[dev]" not in instructions, "no dev dependencies in the image"
    # The case service refuses to start without its rules catalogue (RULES_DIR, default
    # rules/ beside services/ in /app).
    assert re.search(r"^COPY rules \./rules$", instructions, re.MULTILINE), "the image needs the rules catalogue"


# -- Kubernetes -------------------------------------------------------------------------------


def deployments(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "Deployment"]


def test_k8s_has_a_deployment_and_service_per_service(k8s_objects: list[dict[str, Any]]) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in k8s_objects}
    for name in SERVICES:
        assert ("Deployment", name) in kinds
        assert ("Service", name) in kinds
    assert any(k == "Namespace" for k, _ in kinds)
    assert any(k == "ConfigMap" for k, _ in kinds)
    assert any(k == "Secret" for k, _ in kinds)


def test_every_deployment_is_probed(k8s_objects: list[dict[str, Any]]) -> None:
    found = deployments(k8s_objects)
    assert found
    for deployment in found:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            where = f"{deployment['metadata']['name']}/{container['name']}"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where


def test_every_deployment_is_locked_down(k8s_objects: list[dict[str, Any]]) -> None:
    for deployment in deployments(k8s_objects):
        pod = deployment["spec"]["template"]["spec"]
        assert deployment["spec"]["replicas"] == 2
        assert pod["securityContext"]["runAsNonRoot"] is True
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert {"requests", "limits"} <= set(container["resources"])
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes


def secret_named(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (secret,) = [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == name]
    return secret


def container_env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container.get("env", [])}


def test_deployments_take_their_database_url_from_the_secret(k8s_objects: list[dict[str, Any]]) -> None:
    secret = secret_named(k8s_objects, DATABASE_SECRET)
    for deployment in deployments(k8s_objects):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        url = urlparse(secret["stringData"][ref["key"]])
        assert url.path == f"/caseledger_{deployment['metadata']['name']}"
        assert "REPLACE_ME" in secret["stringData"][ref["key"]], "the Secret is a template"


def test_pii_services_take_the_key_ring_from_its_secret(k8s_objects: list[dict[str, Any]]) -> None:
    secret = secret_named(k8s_objects, PII_SECRET)
    by_name = {d["metadata"]["name"]: d for d in deployments(k8s_objects)}
    for name in PII_SERVICES:
        env = container_env(by_name[name])
        assert "PII_KEYS" in env, f"{name} needs PII_KEYS"
        assert "value" not in env["PII_KEYS"], f"{name}: PII_KEYS must not be inline"
        ref = env["PII_KEYS"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == PII_SECRET
        assert ref["key"] in secret["stringData"]
        assert "REPLACE_ME" in secret["stringData"][ref["key"]], "the Secret is a template"


def test_other_deployments_have_no_access_to_the_key_ring(k8s_objects: list[dict[str, Any]]) -> None:
    by_name = {d["metadata"]["name"]: d for d in deployments(k8s_objects)}
    for name in NO_PII_SERVICES:
        pod = by_name[name]["spec"]["template"]["spec"]
        # Anywhere in the pod spec: env, envFrom, volumes, init containers.
        assert PII_SECRET not in json.dumps(pod), f"{name} references {PII_SECRET}"
        assert "PII_KEYS" not in container_env(by_name[name])


def test_no_configmap_carries_the_key_ring(k8s_objects: list[dict[str, Any]]) -> None:
    for config in (o for o in k8s_objects if o["kind"] == "ConfigMap"):
        assert "PII_KEYS" not in config.get("data", {}), "PII_KEYS belongs in a Secret"


def test_configmap_configures_authentication(k8s_objects: list[dict[str, Any]]) -> None:
    (config,) = [o for o in k8s_objects if o["kind"] == "ConfigMap"]
    data = config["data"]
    assert urlparse(data["AUTH_JWKS_URL"]).scheme == "https"
    issuers = json.loads(data["AUTH_ISSUERS"])
    assert isinstance(issuers, list) and issuers and all(isinstance(i, str) and i for i in issuers)
    assert "caseledger-dev" not in issuers, "production must not trust the development issuer"
    assert data.get("AUTH_AUDIENCE", "caseledger") == "caseledger"
    assert "AUTH_JWKS_FILE" not in data


def test_secrets_are_not_in_the_kustomization() -> None:
    (kustomization,) = load_all(DEPLOY / "k8s" / "kustomization.yaml")
    resources = kustomization["resources"]
    assert "secret.template.yaml" not in resources
    listed = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml", "secret.template.yaml"}
    assert set(resources) == listed, "every manifest except the Secret template is applied"
