"""The server as operators run it: configuration, logs, health, readiness, metrics, graceful
shutdown, TLS, the gc and verify subcommands, and two stateless nodes sharing PostgreSQL and an
S3-protocol server (moto, and Garage, a real S3 implementation), with presigned download
redirects.
"""

import concurrent.futures
import hashlib
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import uuid

import pytest
import requests

from conftest import ADMIN_PASSWORD, BINARY, ROOT, Conan, Server, write_recipe
from s3servers import Garage, blob_env

MOTO = ROOT / "target" / "test-venv" / "moto" / "bin" / "moto_server"
POSTGRES_URL = os.environ.get("CONAN_REGISTRY_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def run_binary(*args, env=None, timeout=60):
    full_env = dict(os.environ)
    full_env.pop("CONAN_REGISTRY_CONFIG", None)
    full_env.update(env or {})
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def token_for(server, user="admin", password=ADMIN_PASSWORD):
    response = requests.get(f"{server.project_remote()}/v2/users/authenticate", auth=(user, password), timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def revision_manifest(files):
    """The manifest of a recipe revision made of `files`, and the revision it gives."""
    manifest = "1700000000\n" + "".join(
        f"{path}: {hashlib.md5(data).hexdigest()}\n" for path, data in sorted(files.items())
    )
    return manifest, hashlib.md5(manifest.encode()).hexdigest()


def upload_revision(server, token, name, files, version="1.0"):
    """Uploads a recipe revision over the v2 API (manifest last, which commits it); returns the
    revision and the base URL of its files."""
    manifest, rrev = revision_manifest(files)
    base = f"{server.project_remote()}/v2/conans/{name}/{version}/_/_/revisions/{rrev}/files"
    headers = {"Authorization": f"Bearer {token}"}
    for path, data in list(files.items()) + [("conanmanifest.txt", manifest.encode())]:
        response = requests.put(f"{base}/{path}", data=data, headers=headers, timeout=120)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
    return rrev, base


def blob_files(data_dir):
    root = pathlib.Path(data_dir) / "blobs"
    return [path for path in root.rglob("*") if path.is_file() and "staging" not in path.parts]


# --- configuration ---------------------------------------------------------------------------


def test_config_init_writes_the_example_and_it_gives_the_defaults(tmp_path):
    example = tmp_path / "conan-registry.toml"
    written = run_binary("config", "init", "--output", str(example))
    assert written.returncode == 0, written.stderr
    assert example.read_text() == (ROOT / "deploy" / "conan-registry.example.toml").read_text()
    assert run_binary("config", "init").stdout == example.read_text()

    again = run_binary("config", "init", "--output", str(example))
    assert again.returncode == 1 and "--force" in again.stderr
    assert run_binary("config", "init", "--output", str(example), "--force").returncode == 0

    data = ["--data-dir", str(tmp_path / "data")]
    defaults = run_binary("config", "show", *data)
    from_example = run_binary("config", "show", "--config", str(example), *data)
    assert defaults.returncode == 0 and from_example.returncode == 0, (defaults.stderr, from_example.stderr)
    assert from_example.stdout == defaults.stdout
    assert 'bind = "127.0.0.1:9300"' in defaults.stdout
    assert f'url = "sqlite://{tmp_path / "data" / "registry.db"}"' in defaults.stdout


def test_config_layers_and_redaction(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[server]\nbind = "127.0.0.1:7000"\n[api]\nsearch_limit = 7\n[log]\nformat = "json"\n')
    shown = run_binary(
        "config", "show", "--config", str(config), "--data-dir", str(tmp_path),
        env={
            "CONAN_REGISTRY__API__SEARCH_LIMIT": "9",
            "CONAN_REGISTRY__DATABASE__URL": "postgres://registry:hunter2-secret@db.internal:5432/conan",
            "CONAN_REGISTRY__BLOBS__KIND": "s3",
            "CONAN_REGISTRY__BLOBS__BUCKET": "conan",
            "CONAN_REGISTRY__BLOBS__ACCESS_KEY_ID": "AKIDEXAMPLE",
            "CONAN_REGISTRY__BLOBS__SECRET_ACCESS_KEY": "wJalrXUtnFEMI-very-secret",
        },
    )
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert 'bind = "127.0.0.1:7000"' in text  # from the file
    assert "search_limit = 9" in text  # the environment beats the file
    assert 'format = "json"' in text
    assert 'url = "postgres://registry:***@db.internal:5432/conan"' in text
    assert 'secret_access_key = "***"' in text
    assert "hunter2-secret" not in text and "wJalrXUtnFEMI" not in text
    flags = run_binary("config", "show", "--config", str(config), "--data-dir", str(tmp_path), "serve")
    assert flags.returncode != 0  # `serve` is not an argument of `config show`


BAD_CONFIGURATIONS = {
    "unknown key in the file": ({"file": "[server]\nbindd = \"127.0.0.1:1\"\n"}, "unknown field `bindd`"),
    "unknown section in the file": ({"file": "[serverr]\n"}, "unknown field `serverr`"),
    "unknown key in the environment": ({"env": {"CONAN_REGISTRY__GC__INTERVAL": "5"}}, "unknown field `interval`"),
    "malformed TOML": ({"file": "[server\n"}, "configuration"),
    "missing configuration file": ({"missing_file": True}, "does not exist"),
    "unsupported database URL": ({"env": {"CONAN_REGISTRY__DATABASE__URL": "mysql://x/y"}}, "unsupported database URL scheme"),
    "unreachable database": (
        {"env": {"CONAN_REGISTRY__DATABASE__URL": "postgres://postgres@127.0.0.1:1/nothing",
                 "CONAN_REGISTRY__DATABASE__ACQUIRE_TIMEOUT_MS": "1000"}},
        "cannot open the database postgres://postgres@127.0.0.1:1/nothing",
    ),
    "bad bind address": ({"bind": "localhost"}, "server.bind"),
    "bad log level": ({"env": {"CONAN_REGISTRY__LOG__LEVEL": "loud=="}}, "log.level"),
    "bad visibility": ({"env": {"CONAN_REGISTRY__BOOTSTRAP__PROJECT_VISIBILITY": "secret"}}, "project_visibility"),
    "bad external URL": ({"env": {"CONAN_REGISTRY__API__EXTERNAL_URL": "conan.example.com"}}, "external_url"),
    "S3 without a bucket": ({"env": {"CONAN_REGISTRY__BLOBS__KIND": "s3"}}, "bucket"),
    # 10,000 parts of 8 MiB is the most the S3 store can hold; one byte more is refused.
    "S3 cannot hold the maximum upload size": (
        {"env": {"CONAN_REGISTRY__BLOBS__KIND": "s3", "CONAN_REGISTRY__BLOBS__BUCKET": "conan",
                 "CONAN_REGISTRY__API__MAX_UPLOAD_SIZE": str(10_000 * 8 * 1024 * 1024 + 1)}},
        "api.max_upload_size 83886080001 is larger than the largest file the S3 blob store can hold",
    ),
    "missing TLS certificate": (
        {"file": "[server.tls]\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n"},
        "cannot read the TLS certificate /nonexistent/cert.pem",
    ),
    "wrong type": ({"env": {"CONAN_REGISTRY__API__MAX_UPLOAD_SIZE": "lots"}}, "max_upload_size"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGURATIONS))
def test_bad_configuration_stops_the_server_with_one_clear_line(tmp_path, case):
    setup, expected = BAD_CONFIGURATIONS[case]
    args = ["serve", "--bind", setup.get("bind", "127.0.0.1:0"), "--data-dir", str(tmp_path / "data")]
    if "file" in setup:
        config = tmp_path / "bad.toml"
        config.write_text(setup["file"])
        args += ["--config", str(config)]
    if setup.get("missing_file"):
        args += ["--config", str(tmp_path / "nope.toml")]
    result = run_binary(*args, env={"CONAN_REGISTRY_ADMIN_PASSWORD": ADMIN_PASSWORD, **setup.get("env", {})})
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("conan-registry: error: ")
    assert expected in lines[0], lines[0]
    assert "panicked" not in result.stderr and "listening" not in result.stdout


# --- logs, health, readiness, metrics --------------------------------------------------------


def metric(text, name, **labels):
    """The value of one sample in Prometheus text, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^([a-zA-Z_:]+)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(key) == str(value) for key, value in labels.items()):
            return float(match.group(4))
    return None


def test_health_ready_metrics_and_one_log_line_per_request(tmp_path):
    server = Server(tmp_path / "data")
    try:
        assert requests.get(f"{server.url}/-/health", timeout=10).json() == {"status": "ok"}
        ready = requests.get(f"{server.url}/-/ready", timeout=10)
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text

        token = token_for(server)
        payload = os.urandom(3 * 1024 * 1024)
        _, base = upload_revision(server, token, "metered", {"conanfile.py": b"# recipe\n", "conan_export.tgz": payload})
        download = requests.get(f"{base}/conan_export.tgz", headers={"Authorization": f"Bearer {token}",
                                                                     "X-Request-Id": "trace-me-42"}, timeout=60)
        assert download.content == payload
        assert download.headers["X-Request-Id"] == "trace-me-42"
        generated = requests.get(f"{server.url}/-/health", headers={"X-Request-Id": "bad id\u00e9"}, timeout=10)
        assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-Id"])
        missing = requests.get(f"{server.project_remote()}/v2/conans/nope/1.0/_/_/latest",
                               headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert missing.status_code == 404

        text = requests.get(f"{server.url}/metrics", timeout=10).text
        route = "/api/v4/projects/{id}/packages/conan/v2/conans/{name}/{version}/{user}/{channel}/revisions/{rrev}/files/{path:.*}"
        assert metric(text, "conan_registry_http_requests_total", method="PUT", route=route, status=200) == 3
        assert metric(text, "conan_registry_http_requests_total", method="GET", route=route, status=200) == 1
        assert metric(text, "conan_registry_http_requests_total", method="GET", route="/-/ready", status=200) == 1
        latest = "/api/v4/projects/{id}/packages/conan/v2/conans/{name}/{version}/{user}/{channel}/latest"
        assert metric(text, "conan_registry_http_requests_total", method="GET", route=latest, status=404) == 1
        assert metric(text, "conan_registry_http_request_duration_seconds_count", method="PUT", route=route) == 3
        assert metric(text, "conan_registry_uploaded_bytes_total") >= len(payload)
        assert metric(text, "conan_registry_downloaded_bytes_total") >= len(payload)
        assert metric(text, "conan_registry_db_pool_max_connections") == 16
        assert metric(text, "conan_registry_db_pool_connections") is not None
        assert metric(text, "conan_registry_http_requests_in_flight") == 1  # this scrape
        # The per-project gauges name projects: off unless configured.
        assert metric(text, "conan_registry_project_files", project="demo/packages") is None

        # The blob store disappears: not ready, and the failure is named and counted.
        blobs = tmp_path / "data" / "blobs"
        blobs.rename(tmp_path / "blobs-away")
        unready = requests.get(f"{server.url}/-/ready", timeout=10)
        assert unready.status_code == 503, unready.text
        assert unready.json()["database"] == "ok" and unready.json()["blobs"] == "unavailable"
        failed = requests.get(f"{base}/conan_export.tgz", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert failed.status_code >= 500
        (tmp_path / "blobs-away").rename(blobs)
        assert requests.get(f"{server.url}/-/ready", timeout=10).status_code == 200
        text = requests.get(f"{server.url}/metrics", timeout=10).text
        assert metric(text, "conan_registry_blob_store_errors_total", operation="check") >= 1
    finally:
        server.stop()
    assert server.process.returncode == 0
    log = "".join(server.output)
    access = [line for line in log.splitlines() if "conan_registry::access" in line]
    assert any("request_id=trace-me-42" in line and "status=200" in line and f"bytes_out={len(payload)}" in line
               and "complete=true" in line and "route=" + route in line for line in access), access
    assert any(f"bytes_in={len(payload)}" in line and "method=PUT" in line for line in access)
    assert len([line for line in access if "path=/metrics" in line]) == 2
    assert ADMIN_PASSWORD not in log and token not in log
    assert "stopping" in log and "SIGTERM" in log


def test_project_statistics_gauges_follow_uploads(tmp_path):
    """The per-project gauges of /metrics are recounted on their schedule: an upload shows up
    within an interval, counted as `project stats` counts it."""
    server = Server(tmp_path / "data", {"CONAN_REGISTRY__CATALOG__STATS_INTERVAL_SECS": "1"})
    try:
        def gauges():
            text = requests.get(f"{server.url}/metrics", timeout=10).text
            return {name: metric(text, f"conan_registry_project_{name}", project="demo/packages")
                    for name in ("references", "recipe_revisions", "binaries", "package_revisions", "files",
                                 "bytes", "stored_bytes")}

        def settle(expected_files):
            deadline = time.time() + 20
            while (found := gauges())["files"] != expected_files:
                assert time.time() < deadline, found
                time.sleep(0.2)
            return found

        assert settle(0)["references"] == 0
        token = token_for(server)
        shared = b"\x1f\x8b the same export bytes"
        for seed in range(2):
            upload_revision(server, token, "gauged", {"conanfile.py": f"# recipe {seed}\n".encode(),
                                                       "conan_export.tgz": shared})
        found = settle(6)
        assert (found["references"], found["recipe_revisions"], found["binaries"]) == (1, 2, 0)
        assert found["stored_bytes"] < found["bytes"], found
        row = server.admin("project", "stats", "demo/packages").stdout.strip().splitlines()[1].split()
        assert [int(value) for value in row[1:]] == [int(found[name]) for name in
                                                     ("references", "recipe_revisions", "binaries", "package_revisions",
                                                      "files", "bytes", "stored_bytes")]
    finally:
        server.stop()


def test_json_logs(tmp_path):
    server = Server(tmp_path / "data", extra_env={"CONAN_REGISTRY__LOG__FORMAT": "json"})
    try:
        requests.get(f"{server.url}/-/health", headers={"X-Request-Id": "json-1"}, timeout=10)
        token_for(server)
    finally:
        server.stop()
    events = [json.loads(line) for line in server.output if line.startswith("{")]
    access = [event for event in events if event.get("target") == "conan_registry::access"]
    assert len(access) == 2, events
    first = access[0]
    assert first["request_id"] == "json-1" and first["status"] == 200 and first["route"] == "/-/health"
    assert first["method"] == "GET" and first["bytes_out"] > 0 and first["duration_ms"] >= 0
    assert first["level"] == "INFO" and "timestamp" in first
    assert ADMIN_PASSWORD not in "".join(server.output)


def test_buffered_log_keeps_every_line_and_writes_them_out_at_shutdown(tmp_path):
    """`log.buffered`: 400 requests from 8 clients at once, then SIGTERM; every request's access
    line is there once, by its request id."""
    server = Server(tmp_path / "data", extra_env={"CONAN_REGISTRY__LOG__BUFFERED": "true"})
    count = 400
    try:
        def ask(index):
            response = requests.get(f"{server.url}/-/health", headers={"X-Request-Id": f"buffered-{index}"},
                                    timeout=30)
            return response.status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert set(pool.map(ask, range(count))) == {200}
    finally:
        server.stop()
    assert server.process.returncode == 0

    def ids():
        return re.findall(r"request_id=(buffered-\d+)", "".join(server.output))

    deadline = time.time() + 10
    while len(ids()) < count and time.time() < deadline:
        time.sleep(0.05)
    found = ids()
    assert sorted(found) == sorted(f"buffered-{index}" for index in range(count)), len(found)


# --- graceful shutdown ----------------------------------------------------------------------


def start_big_download(server, name):
    """Uploads a 48 MiB file and starts streaming it back; returns the response and the bytes."""
    token = token_for(server)
    payload = os.urandom(48 * 1024 * 1024)
    _, base = upload_revision(server, token, name, {"conanfile.py": b"# big\n", "conan_export.tgz": payload})
    response = requests.get(f"{base}/conan_export.tgz", headers={"Authorization": f"Bearer {token}"},
                            stream=True, timeout=60)
    assert response.status_code == 200
    return response, payload


def test_sigterm_lets_a_download_in_flight_finish_then_exits_zero(tmp_path):
    server = Server(tmp_path / "data")
    try:
        response, payload = start_big_download(server, "big")
        chunks = response.iter_content(chunk_size=1024 * 1024)
        received = [next(chunks)]
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1)
        # No new connections once stopping...
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{server.url}/-/health", timeout=5)
        # ...while the download in flight goes on to the end.
        for chunk in chunks:
            received.append(chunk)
            time.sleep(0.002)
        assert hashlib.sha256(b"".join(received)).digest() == hashlib.sha256(payload).digest()
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    log = "".join(server.output)
    assert "stopping" in log and "stopped" in log


def test_shutdown_timeout_cuts_a_stalled_download(tmp_path):
    server = Server(tmp_path / "data", extra_env={"CONAN_REGISTRY__SERVER__SHUTDOWN_TIMEOUT_SECS": "2"})
    try:
        response, _ = start_big_download(server, "stall")
        next(response.iter_content(chunk_size=65536))  # then never read again
        started = time.time()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
        assert time.time() - started < 15
        response.close()
    finally:
        server.stop()


def test_sigterm_lets_an_upload_in_flight_finish_and_keeps_it(tmp_path):
    server = Server(tmp_path / "data")
    token = token_for(server)
    payload = os.urandom(32 * 1024 * 1024)
    files = {"conanfile.py": b"# upload during shutdown\n", "conan_export.tgz": payload}
    manifest, rrev = revision_manifest(files)
    prefix = urllib.parse.urlsplit(server.project_remote()).path
    base = f"/v2/conans/shutdown/1.0/_/_/revisions/{rrev}/files"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        assert requests.put(f"{server.project_remote()}{base}/conanfile.py", data=files["conanfile.py"],
                            headers=headers, timeout=30).status_code in (200, 201)
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        connection.putrequest("PUT", f"{prefix}{base}/conan_export.tgz")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Content-Length", str(len(payload)))
        connection.endheaders()
        half = len(payload) // 2
        connection.send(payload[:half])
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{server.url}/-/health", timeout=5)
        # The rest of the body still arrives, and the upload is answered and stored.
        for start in range(half, len(payload), 1024 * 1024):
            connection.send(payload[start:start + 1024 * 1024])
        response = connection.getresponse()
        assert response.status in (200, 201), (response.status, response.read())
        connection.close()
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()

    # After a restart the file is there: the manifest commits the revision and the file
    # downloads whole.
    server = Server(tmp_path / "data")
    try:
        token = token_for(server)
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{server.project_remote()}{base}"
        assert requests.put(f"{url}/conanmanifest.txt", data=manifest.encode(), headers=headers,
                            timeout=30).status_code in (200, 201)
        download = requests.get(f"{url}/conan_export.tgz", headers=headers, timeout=60)
        assert download.status_code == 200
        assert hashlib.sha256(download.content).digest() == hashlib.sha256(payload).digest()
    finally:
        server.stop()


def test_migrate_prepares_an_empty_database_and_is_idempotent(tmp_path, postgres_database):
    # SQLite, in a data directory that does not exist yet.
    data = tmp_path / "new" / "data"
    for _ in range(2):
        result = run_binary("migrate", "--data-dir", str(data))
        assert result.returncode == 0, result.stderr
        assert "the sqlite database is up to date" in result.stderr, result.stderr
    assert (data / "registry.db").is_file()
    server = Server(data)
    try:
        assert requests.get(f"{server.url}/-/ready", timeout=10).status_code == 200
        assert "First start" in "".join(server.output)
        token_for(server)
    finally:
        server.stop()

    # PostgreSQL: an empty database gets the schema once; running again changes nothing.
    env = {"CONAN_REGISTRY__DATABASE__URL": postgres_database}

    def applied():
        query = subprocess.run(
            ["psql", postgres_database, "-tAc", "SELECT count(*) FROM __diesel_schema_migrations"],
            check=True, capture_output=True, text=True,
        )
        return int(query.stdout.strip())

    migrations = len(list((ROOT / "crates" / "conan-store" / "migrations" / "postgres").iterdir()))
    for _ in range(2):
        result = run_binary("migrate", "--data-dir", str(tmp_path / "pg"), env=env)
        assert result.returncode == 0, result.stderr
        assert "the postgres database is up to date" in result.stderr, result.stderr
        assert applied() == migrations


# --- TLS ------------------------------------------------------------------------------------


def test_tls_serving(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    env = dict(os.environ)
    env.update({
        "CONAN_REGISTRY_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CONAN_REGISTRY__SERVER__TLS__CERT_FILE": str(cert),
        "CONAN_REGISTRY__SERVER__TLS__KEY_FILE": str(key),
    })
    port = free_port()
    process = subprocess.Popen(
        [str(BINARY), "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    try:
        first = process.stdout.readline()
        assert first.strip() == f"conan-registry listening on https://127.0.0.1:{port}", first
        url = f"https://127.0.0.1:{port}"
        assert requests.get(f"{url}/-/health", verify=str(cert), timeout=10).json() == {"status": "ok"}
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/-/health", timeout=5)
        response = requests.get(f"{url}/api/v4/projects/1/packages/conan/v2/users/authenticate",
                                auth=("admin", ADMIN_PASSWORD), verify=str(cert), timeout=30)
        assert response.status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


# --- gc and verify --------------------------------------------------------------------------


def test_gc_removes_unreferenced_blobs_and_verify_finds_corruption(tmp_path):
    server = Server(tmp_path / "data")
    try:
        token = token_for(server)
        keep = os.urandom(200_000)
        drop = os.urandom(300_000)
        upload_revision(server, token, "keep", {"conanfile.py": b"# keep\n", "conan_export.tgz": keep})
        rrev, _ = upload_revision(server, token, "drop", {"conanfile.py": b"# drop\n", "conan_export.tgz": drop})
        before = len(blob_files(tmp_path / "data"))
        verified = server.admin("verify")
        assert f"{before} blob(s) checked, 0 problem(s)" in verified.stdout

        deleted = requests.delete(f"{server.project_remote()}/v2/conans/drop/1.0/_/_/revisions/{rrev}",
                                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert deleted.status_code == 200, deleted.text
        # Within the grace period nothing goes.
        report = server.admin("gc").stdout
        assert "0 deleted" in report, report
        report = server.admin("gc", "--grace-secs", "0").stdout
        # The dropped revision's conanfile.py, conan_export.tgz and manifest.
        assert re.search(r"\b3 deleted \(\d+ bytes\)", report), report
        assert len(blob_files(tmp_path / "data")) == before - 3

        keep_blob = next(path for path in blob_files(tmp_path / "data") if path.stat().st_size == len(keep))
        keep_blob.write_bytes(b"bit rot" + keep[7:])
        result = server.admin("verify", check=False)
        assert result.returncode == 1
        assert f"corrupt  {hashlib.sha256(keep).hexdigest()}" in result.stdout
        assert "1 problem(s)" in result.stdout
        keep_blob.unlink()
        result = server.admin("verify", check=False)
        assert result.returncode == 1 and f"missing  {hashlib.sha256(keep).hexdigest()}" in result.stdout
    finally:
        server.stop()


# --- scale-out: two nodes, PostgreSQL and S3 ------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def moto_server():
    """A moto S3 server of this test's own, with a bucket `conan`."""
    if not MOTO.exists():
        pytest.fail(f"{MOTO} is missing: run scripts/s3-test-server install (scripts/test-all does)")
    port = free_port()
    process = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                requests.get(endpoint, timeout=2)
                break
            except requests.exceptions.ConnectionError:
                if time.time() > deadline or process.poll() is not None:
                    raise RuntimeError("moto did not start")
                time.sleep(0.3)
        assert requests.put(f"{endpoint}/conan", timeout=10).status_code == 200
        yield {"endpoint": endpoint, "region": "us-east-1", "access_key_id": "testing",
               "secret_access_key": "testing"}
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def garage_server(tmp_path_factory):
    """A single-node Garage of this test's own (scripts/garage-test-server), with a bucket
    `conan` that the test key may read, write and own."""
    garage = Garage(tmp_path_factory.mktemp("garage"))
    try:
        yield garage.s3
    finally:
        garage.stop()


@pytest.fixture(params=["moto", "garage"])
def s3_server(request):
    """An S3-protocol server with a bucket `conan`: moto (a mock, fast) and Garage (a real
    implementation: signatures checked, its own multipart and presigned URL handling)."""
    return request.getfixturevalue(f"{request.param}_server")


def psql(sql):
    subprocess.run(["psql", POSTGRES_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


@pytest.fixture
def postgres_database():
    name = f"conan_registry_ops_{uuid.uuid4().hex[:12]}"
    psql(f"CREATE DATABASE {name}")
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def shared_env(database_url, s3, **extra):
    return {"CONAN_REGISTRY__DATABASE__URL": database_url, **blob_env(s3), **extra}


def test_two_nodes_share_postgres_and_s3(tmp_path, tmp_path_factory, postgres_database, s3_server):
    # Both nodes start at once against the empty database: one migrates and bootstraps, the
    # other waits for it on the start-up lock.
    nodes = []
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            starting = [
                pool.submit(Server, tmp_path / "a", shared_env(postgres_database, s3_server)),
                pool.submit(Server, tmp_path / "b", shared_env(
                    postgres_database, s3_server, CONAN_REGISTRY__API__REDIRECT_DOWNLOADS="true")),
            ]
            for future in starting:
                try:
                    nodes.append(future.result())
                except Exception:
                    pass
        assert len(nodes) == 2, "a node did not start"
        node_a, node_b = nodes
        for node in nodes:
            assert requests.get(f"{node.url}/-/ready", timeout=10).status_code == 200
        assert sum("First start" in "".join(node.output) for node in nodes) == 1

        uploader = Conan("2.34.0", tmp_path_factory.mktemp("conan-home"))
        installer = Conan("2.34.0", tmp_path_factory.mktemp("conan-home"))
        for client, node in ((uploader, node_a), (installer, node_b)):
            client.run("remote", "add", "registry", node.project_remote())
            client.run("remote", "login", "registry", "admin", "-p", ADMIN_PASSWORD)

        recipe = write_recipe(tmp_path / "recipe", name="shared", source="int shared = 1;\n" * 50_000)
        uploader.run("create", str(recipe))
        uploader.run("upload", "shared/1.0", "-r", "registry", "-c")

        # Node B serves what node A stored, redirecting file downloads to presigned S3 URLs,
        # which the client follows without its Authorization header.
        installer.run("install", "--requires=shared/1.0", "-r", "registry")
        log_b = "".join(node_b.output)
        assert re.search(r"route=\S+/files/\{path:\.\*\} status=302", log_b), log_b[-3000:]
        rrev = requests.get(f"{node_a.project_remote()}/v2/conans/shared/1.0/_/_/latest",
                            auth=("admin", ADMIN_PASSWORD), timeout=10).json()["revision"]
        path = f"v2/conans/shared/1.0/_/_/revisions/{rrev}/files/conanfile.py"
        direct = requests.get(f"{node_a.project_remote()}/{path}", auth=("admin", ADMIN_PASSWORD), timeout=10)
        assert direct.status_code == 200
        redirect = requests.get(f"{node_b.project_remote()}/{path}", auth=("admin", ADMIN_PASSWORD),
                                allow_redirects=False, timeout=10)
        assert redirect.status_code == 302
        location = redirect.headers["Location"]
        assert location.startswith(f"{s3_server['endpoint']}/conan/registry/") and "X-Amz-Signature=" in location
        assert requests.get(location, timeout=10).content == direct.content
        assert requests.get(f"{node_b.project_remote()}/{path}", timeout=10).status_code == 401

        # Delete through node B; node A sees it at once.
        installer.run("remove", "shared/1.0", "-r", "registry", "-c")
        listed = uploader.json("list", "shared/*", "-r", "registry")
        assert listed["registry"] == {} or "shared/1.0" not in listed["registry"], listed
        latest = requests.get(f"{node_a.project_remote()}/v2/conans/shared/1.0/_/_/latest",
                              auth=("admin", ADMIN_PASSWORD), timeout=10)
        assert latest.status_code == 404

        # Maintenance from any node's configuration sees the shared stores.
        report = node_a.admin("gc", "--grace-secs", "0").stdout
        assert re.search(r"\b[1-9]\d* deleted", report), report
        assert "0 problem(s)" in node_b.admin("verify").stdout
    finally:
        for node in nodes:
            node.stop()
