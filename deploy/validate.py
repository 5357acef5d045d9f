#!/usr/bin/env python3
"""Checks the deployment files offline, and that they agree with the code.

- Kubernetes: every manifest in deploy/kubernetes against the Kubernetes schemas bundled
  with kubernetes-validate, strictly (an unknown or misplaced field is an error), for the
  oldest and newest release supported (KUBERNETES_VERSIONS).
- Compose: deploy/compose/compose.yaml against the Compose specification's JSON schema, read
  from the docker-compose wheel named by COLLOQUY_COMPOSE_WHEEL (`deploy/dev test` fetches it).
- Dockerfiles: two stages, the build `--locked --offline` after a `cargo fetch --locked`, an
  unprivileged user, a health check, the port the service listens on exposed.
- Agreement with the code: every variable set for a Colloquy container is one the code reads
  and docs/configuration.md documents; probes ask for paths the services serve, on the port their
  `*_ADDR` binds; `envFrom` names a ConfigMap or Secret that exists.

`validate.py` checks the repository and exits 1 listing every finding. `validate.py
--self-test` first breaks copies of the files in known ways and fails unless each break is
found, so that a validator that finds nothing cannot pass.
"""

import copy
import json
import os
import re
import sys
import zipfile
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
SERVICES = {"ingest": "INGEST_ADDR", "projector": "PROJECTOR_ADDR", "query-api": "QUERY_API_ADDR"}
SOURCES = ["ingest/src", "projector/src", "query-api/src", "runtime/src"]
# Read by libraries rather than by a literal in our code.
READ_ELSEWHERE = {"RUST_LOG"}


def code_variables():
    """Every SCREAMING_SNAKE string literal in the services' sources: the names they read."""
    names = set()
    for source in SOURCES:
        for path in (ROOT / source).rglob("*.rs"):
            names.update(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', path.read_text()))
    return names | READ_ELSEWHERE


def documented_variables():
    """The names in the first column of the configuration table (docs/configuration.md)."""
    names = set()
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))
    return names


def served_paths(service):
    """The health paths (`/_…`) a service's router names, itself or through `Api::probes`
    (runtime/src/documented.rs)."""
    directory = ROOT / service / "src"
    text = "".join(p.read_text() for p in directory.rglob("*.rs"))
    if ".probes(" in text:
        text += (ROOT / "runtime" / "src" / "documented.rs").read_text()
    return set(re.findall(r'"(/_[a-z]+)"', text))


class Findings:
    def __init__(self):
        self.items = []

    def add(self, where, what):
        self.items.append(f"{where}: {what}")


def check_variables(findings, where, names, known, documented):
    for name in sorted(names):
        if name not in known:
            findings.add(where, f"{name} is not a variable the code reads")
        elif name not in documented:
            findings.add(where, f"{name} is not in the configuration table (docs/configuration.md)")


def service_of(image):
    """The Colloquy service an image runs, or None for anyone else's."""
    match = re.match(r"colloquy/([a-z-]+)(?::|$)", image or "")
    return match.group(1) if match and match.group(1) in SERVICES else None


def addr_port(value):
    match = re.search(r":(\d+)$", value or "")
    return int(match.group(1)) if match else None


# ------------------------------------------------------------------------- Kubernetes

def check_kubernetes(findings, documents, known, documented):
    """`documents`: (file name, parsed document) pairs."""
    kinds = {}
    for name, doc in documents:
        if not isinstance(doc, dict):
            findings.add(name, "a document that is not a mapping")
            continue
        if doc.get("kind") == "Kustomization":
            for resource in doc.get("resources", []):
                if not (ROOT / "deploy/kubernetes" / resource).exists():
                    findings.add(name, f"lists {resource}, which does not exist")
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(p) for p in error.path)
                findings.add(name, f"{doc.get('kind')} {doc['metadata'].get('name')}: "
                                   f"{path}: {error.message} (Kubernetes {version})")
            except kubernetes_validate.SchemaNotFoundError as error:
                findings.add(name, f"no schema for {doc.get('kind')}: {error}")
        kinds.setdefault(doc.get("kind"), {})[doc["metadata"]["name"]] = doc
    for kind in ("ConfigMap", "Secret"):
        for doc in kinds.get(kind, {}).values():
            if doc["metadata"]["name"] == "colloquy-ca":
                continue
            keys = set(doc.get("data", {})) | set(doc.get("stringData", {}))
            check_variables(findings, f"{kind} {doc['metadata']['name']}", keys, known, documented)
    for kind in ("Deployment", "Job"):
        for doc in kinds.get(kind, {}).values():
            check_pod(findings, f"{kind} {doc['metadata']['name']}", doc["spec"]["template"]["spec"],
                      kinds, known, documented)
    for doc in kinds.get("HorizontalPodAutoscaler", {}).values():
        target = doc["spec"]["scaleTargetRef"]["name"]
        if target not in kinds.get("Deployment", {}):
            findings.add(f"HorizontalPodAutoscaler {doc['metadata']['name']}", f"scales {target}, which is not a Deployment here")
    for kind in ("Service", "PodDisruptionBudget"):
        for doc in kinds.get(kind, {}).values():
            selector = doc["spec"].get("selector", {})
            selector = selector.get("matchLabels", selector)
            if not any(selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
                       for d in kinds.get("Deployment", {}).values()):
                findings.add(f"{kind} {doc['metadata']['name']}", f"selects {selector}, which no Deployment's pods carry")


def check_pod(findings, where, pod, kinds, known, documented):
    volumes = {v["name"] for v in pod.get("volumes", [])}
    for container in pod["containers"]:
        service = service_of(container.get("image"))
        if service is None:
            continue
        here = f"{where} container {container['name']}"
        for source in container.get("envFrom", []):
            for ref, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if ref in source and source[ref]["name"] not in kinds.get(kind, {}):
                    findings.add(here, f"envFrom names {kind} {source[ref]['name']}, which is not here")
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        check_variables(findings, here, set(env), known, documented)
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes:
                findings.add(here, f"mounts volume {mount['name']}, which the pod does not have")
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        bound = addr_port(env.get(SERVICES[service]))
        if ports and bound not in ports.values():
            findings.add(here, f"{SERVICES[service]} binds port {bound}, not a container port {sorted(ports.values())}")
        served = served_paths(service)
        for probe in ("readinessProbe", "livenessProbe"):
            get = container.get(probe, {}).get("httpGet")
            if get is None:
                if "Deployment" in where:
                    findings.add(here, f"no {probe}")
                continue
            if get["path"] not in served:
                findings.add(here, f"{probe} asks for {get['path']}, which {service} does not serve ({sorted(served)})")
            port = ports.get(get["port"], get["port"])
            if port != bound:
                findings.add(here, f"{probe} asks port {get['port']}, but {service} binds {bound}")
        if "Deployment" in where and not container.get("resources", {}).get("requests"):
            findings.add(here, "no resource requests")
        security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        if not security.get("runAsNonRoot"):
            findings.add(here, "may run as root (runAsNonRoot is not set)")


# ------------------------------------------------------------------------- Compose

def compose_schema():
    wheel = os.environ.get("COLLOQUY_COMPOSE_WHEEL")
    if not wheel:
        sys.exit("COLLOQUY_COMPOSE_WHEEL is not set: the docker-compose wheel whose compose_spec.json "
                 "the compose file is checked against (deploy/dev test fetches it)")
    with zipfile.ZipFile(wheel) as archive:
        return json.loads(archive.read("compose/config/compose_spec.json"))


def check_compose(findings, compose, schema, known, documented):
    where = "deploy/compose/compose.yaml"
    for error in jsonschema.Draft7Validator(schema).iter_errors(compose):
        path = ".".join(str(p) for p in error.absolute_path)
        findings.add(where, f"{path}: {error.message}")
    services = compose.get("services", {})
    for name, service in services.items():
        for other, condition in (service.get("depends_on") or {}).items():
            if other not in services:
                findings.add(where, f"{name} depends on {other}, which is not a service")
            elif condition.get("condition") == "service_healthy" and "healthcheck" not in services[other]:
                findings.add(where, f"{name} waits for {other} to be healthy, which has no health check")
        ours = service_of(service.get("image"))
        if ours is None:
            continue
        dockerfile = service.get("build", {}).get("dockerfile")
        if dockerfile and not (ROOT / dockerfile).exists():
            findings.add(where, f"{name} builds {dockerfile}, which does not exist")
        env = service.get("environment") or {}
        check_variables(findings, f"{where} service {name}", set(env), known, documented)


# ------------------------------------------------------------------------- Dockerfiles

def check_dockerfile(findings, path, text, service):
    where = str(path.relative_to(ROOT)) if path.is_absolute() else str(path)
    lines = [l.strip() for l in text.replace("\\\n", " ").splitlines() if l.strip() and not l.strip().startswith("#")]
    stages = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
    if len(stages) < 2:
        findings.add(where, "not a multi-stage build")
        return
    build = " ".join(lines[stages[0]:stages[-1]])
    final = lines[stages[-1]:]
    if "cargo fetch --locked" not in build:
        findings.add(where, "crates are not fetched in a step of their own (`cargo fetch --locked`)")
    if not re.search(rf"cargo build --release --locked --offline -p {re.escape(service)}\b", build):
        findings.add(where, f"{service} is not built --release --locked --offline")
    users = [l.split(None, 1)[1] for l in final if l.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        findings.add(where, "the image runs as root (no unprivileged USER)")
    if not any(l.upper().startswith("HEALTHCHECK ") for l in final):
        findings.add(where, "no HEALTHCHECK")
    entry = [l for l in final if l.upper().startswith("ENTRYPOINT ")]
    if not entry or f'"{service}"' not in entry[-1]:
        findings.add(where, f"the entry point is not {service}")
    port = None
    for l in final:
        match = re.search(rf"{SERVICES[service]}=\S*:(\d+)", l)
        if match:
            port = int(match.group(1))
    exposed = {int(p) for l in final if l.upper().startswith("EXPOSE ") for p in re.findall(r"\d+", l)}
    if port is None or port not in exposed:
        findings.add(where, f"{SERVICES[service]} binds {port}, which is not exposed ({sorted(exposed)})")


# ------------------------------------------------------------------------- the run

def load_kubernetes():
    documents = []
    for path in sorted((ROOT / "deploy/kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                documents.append((path.name, doc))
    return documents


def check_all(documents, compose, schema, dockerfiles, known, documented):
    findings = Findings()
    check_kubernetes(findings, documents, known, documented)
    check_compose(findings, compose, schema, known, documented)
    for service, (path, text) in dockerfiles.items():
        check_dockerfile(findings, path, text, service)
    return findings.items


def inputs():
    documents = load_kubernetes()
    compose = yaml.safe_load((ROOT / "deploy/compose/compose.yaml").read_text())
    dockerfiles = {}
    for service in SERVICES:
        path = ROOT / "deploy/docker" / f"{service}.Dockerfile"
        dockerfiles[service] = (path, path.read_text() if path.exists() else "")
    return documents, compose, dockerfiles


def self_test(documents, compose, schema, dockerfiles, known, documented):
    """Each break must be found; returns the ones that were not."""
    def broken_kubernetes(change):
        docs = copy.deepcopy(documents)
        for _, doc in docs:
            if doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "ingest":
                change(doc)
        return docs

    def container(doc):
        return doc["spec"]["template"]["spec"]["containers"][0]

    breaks = {
        "an unknown field in a Deployment": lambda: (broken_kubernetes(
            lambda d: container(d).update({"imagePullPolicyy": "Always"})), compose, dockerfiles),
        "a misspelt variable": lambda: (broken_kubernetes(
            lambda d: container(d)["env"].append({"name": "INGEST_ADRR", "value": "x"})), compose, dockerfiles),
        "a probe on a path nobody serves": lambda: (broken_kubernetes(
            lambda d: container(d)["readinessProbe"]["httpGet"].update({"path": "/healthz"})), compose, dockerfiles),
        "a compose service with a field compose does not know": lambda: (
            documents, {**compose, "services": {**compose["services"], "ingest": {
                **compose["services"]["ingest"], "restart_policy": "always"}}}, dockerfiles),
        "an image that runs as root": lambda: (documents, compose, {
            **dockerfiles, "ingest": (dockerfiles["ingest"][0],
                                      re.sub(r"(?m)^USER .*$", "USER root", dockerfiles["ingest"][1]))}),
    }
    baseline = set(check_all(documents, compose, schema, dockerfiles, known, documented))
    missed = []
    for what, make in breaks.items():
        docs, comp, files = make()
        if not set(check_all(docs, comp, schema, files, known, documented)) - baseline:
            missed.append(what)
    return missed


def main():
    known, documented = code_variables(), documented_variables()
    documents, compose, dockerfiles = inputs()
    schema = compose_schema()
    if "--self-test" in sys.argv:
        missed = self_test(documents, compose, schema, dockerfiles, known, documented)
        for what in missed:
            print(f"self-test: {what} was not found")
        if missed:
            return 1
        print("self-test: every deliberate break was found")
    findings = check_all(documents, compose, schema, dockerfiles, known, documented)
    for finding in findings:
        print(finding)
    kinds = sorted({doc.get("kind") for _, doc in documents})
    print(f"{len(documents)} Kubernetes documents ({', '.join(kinds)}) against Kubernetes "
          f"{' and '.join(KUBERNETES_VERSIONS)}, the compose file and {len(dockerfiles)} Dockerfiles: "
          f"{len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
