"""Conan's source backups (`core.sources:download_urls`, `core.sources:upload_url`) against the
registry's `/api/v4/projects/<id>/packages/conan/backups/`: the real Conan 2 client keeps a
recipe's third-party source there and builds from it once the origin is gone; and the same
routes at the HTTP level with hostile names, bodies, callers and concurrent uploads."""

import concurrent.futures
import hashlib
import http.server
import json
import pathlib
import sqlite3
import subprocess
import threading
import time

import pytest
import requests

from conftest import Server
from pgserver import shared_database
from registry_api import stored_blobs, staging_files
from s3servers import Garage, blob_env
from test_cleanup import Cleanup

PROJECT = "demo/packages"
SOURCE = b"the third-party sources of a library, which will vanish from the internet\n" * 50
SHA256 = hashlib.sha256(SOURCE).hexdigest()

RECIPE = '''
import os
from conan import ConanFile
from conan.tools.files import download, copy


class Pkg(ConanFile):
    name = "backedup"
    version = "1.0"

    def source(self):
        download(self, "{url}", "upstream.txt", sha256="{sha256}")

    def package(self):
        copy(self, "upstream.txt", self.source_folder, self.package_folder)
'''


def backups_url(server, project_id=1):
    return f"{server.url}/api/v4/projects/{project_id}/packages/conan/backups/"


def pat(server, user, scope="api"):
    created = server.admin("token", "create", user, "--scope", scope).stdout
    return next(word for word in created.split() if word.startswith("crpat-"))


def deploy_token(server, username, scope):
    return server.admin("deploy-token", "create", PROJECT, "--username", username,
                        "--scope", scope).stdout.strip().splitlines()[-1]


def user_with_role(server, name, role):
    server.admin("user", "create", name, "--password-stdin", stdin=f"{name}-password-1\n")
    server.admin("member", "add", PROJECT, name, role)
    return pat(server, name)


class Origin:
    """The internet a recipe downloads from: one file, over HTTP on loopback, until stopped."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the standard library's name)
                if self.path != "/upstream.txt":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(SOURCE)))
                self.end_headers()
                self.wfile.write(SOURCE)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/upstream.txt"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def configure_backups(conan, server, credentials):
    """Points the client's source downloads at the registry first and uploads backups there;
    `credentials` is one entry of source_credentials.json without its url."""
    url = backups_url(server)
    (conan.home / "global.conf").write_text(
        "core:non_interactive=True\n"
        f'core.sources:download_urls=["{url}", "origin"]\n'
        f"core.sources:upload_url={url}\n"
    )
    (conan.home / "source_credentials.json").write_text(
        json.dumps({"credentials": [dict(url=server.url, **credentials)]})
    )


MAX_UPLOAD = 64 * 1024


@pytest.fixture(params=["sqlite", "postgres"])
def backup_server(request, tmp_path):
    """A server on SQLite or PostgreSQL, blobs on the filesystem, uploads of at most 64 KiB."""
    env = {"CONAN_REGISTRY__API__MAX_UPLOAD_SIZE": str(MAX_UPLOAD)}
    if request.param == "sqlite":
        instance = Server(tmp_path / "data", env)
        yield instance
        instance.stop()
        return
    with shared_database() as url:
        instance = Server(tmp_path / "data", {**env, "CONAN_REGISTRY__DATABASE__URL": url})
        yield instance
        instance.stop()


@pytest.fixture(params=["sqlite-filesystem", "postgres-s3"])
def stores_server(request, tmp_path):
    """A server on SQLite with blobs on the filesystem, or on PostgreSQL with blobs in Garage."""
    if request.param == "sqlite-filesystem":
        instance = Server(tmp_path / "data")
        yield instance
        instance.stop()
        return
    with shared_database() as url:
        garage = Garage(tmp_path / "garage")
        try:
            instance = Server(tmp_path / "data", {"CONAN_REGISTRY__DATABASE__URL": url, **blob_env(garage.s3)})
            yield instance
            instance.stop()
        finally:
            garage.stop()


def test_the_real_client_builds_from_the_backup_once_the_origin_is_gone(stores_server, conan, make_conan, tmp_path):
    server = stores_server
    origin = Origin()
    try:
        token = pat(server, "admin")
        configure_backups(conan, server, {"token": token})
        recipe = tmp_path / "recipe"
        recipe.mkdir()
        (recipe / "conanfile.py").write_text(RECIPE.format(url=origin.url, sha256=SHA256))
        conan.run("create", str(recipe))
        conan.run("remote", "add", "registry", server.project_remote())
        conan.run("remote", "login", "registry", "admin", "-p", token)
        uploaded = conan.run("upload", "backedup/1.0", "-r", "registry", "-c")
        assert "Uploading backup sources" in uploaded.stderr + uploaded.stdout
    finally:
        origin.stop()

    # The registry has the file and its summary, readable with the same token.
    headers = {"Authorization": f"Bearer {token}"}
    stored = requests.get(backups_url(server) + SHA256, headers=headers, timeout=30)
    assert stored.status_code == 200 and stored.content == SOURCE
    summary = requests.get(backups_url(server) + SHA256 + ".json", headers=headers, timeout=30)
    assert summary.status_code == 200, summary.text
    assert "backedup/1.0" in summary.json()["references"]
    # `conan cache backup-upload` finds the file there (HEAD) and only refreshes the summary.
    again = conan.run("cache", "backup-upload")
    assert "already in backup sources server" in again.stderr + again.stdout

    # The origin is gone; a new machine with an empty cache, reading with a read-only deploy
    # token (Basic auth from source_credentials.json), builds from source all the same.
    reader = deploy_token(server, "ci-reader", "read-package-registry")
    builder = make_conan()
    configure_backups(builder, server, {"user": "ci-reader", "password": reader})
    builder.run("remote", "add", "registry", server.project_remote())
    builder.run("remote", "login", "registry", "ci-reader", "-p", reader)
    built = builder.run("install", "--requires=backedup/1.0", "-r", "registry", "--build=backedup/*")
    output = built.stdout + built.stderr
    assert "found in remote backup" in output, output
    folder = builder.cache_path("backedup/1.0:" + builder.json(
        "list", "backedup/1.0:*", "-c")["Local Cache"]["backedup/1.0"]["revisions"].popitem()[1]
        ["packages"].popitem()[0])
    assert (folder / "upstream.txt").read_bytes() == SOURCE

    # The collector keeps what a backup references, and verify reads it back intact.
    server.admin("gc", "--grace-secs", "0")
    assert server.admin("verify").returncode == 0
    again = requests.get(backups_url(server) + SHA256, headers=headers, timeout=30)
    assert again.status_code == 200 and again.content == SOURCE
    # The access log and /metrics name the route like any other.
    route = "/api/v4/projects/{id}/packages/conan/backups/{file}"
    metrics = requests.get(f"{server.url}/metrics", timeout=30).text
    assert f'route="{route}"' in metrics
    assert route in server.log()


def test_hostile_uploads_are_refused_and_store_nothing(backup_server):
    server = backup_server
    token = pat(server, "admin")
    headers = {"Authorization": f"Bearer {token}"}
    base = backups_url(server)
    before = stored_blobs(server)

    def put(name, body, extra=None):
        return requests.put(base + name, data=body, headers={**headers, **(extra or {})}, timeout=30)

    wrong = put(SHA256, b"not the bytes the name promises")
    assert wrong.status_code == 400 and "nothing was stored" in wrong.json()["message"], wrong.text
    huge = b"x" * (MAX_UPLOAD + 1)
    too_large = put(hashlib.sha256(huge).hexdigest(), huge)
    assert too_large.status_code == 400 and "too large" in too_large.text, too_large.text
    chunked = put(hashlib.sha256(huge).hexdigest(), iter([huge[:1000], huge[1000:]]))
    assert chunked.status_code == 400, chunked.text
    sha1 = put(SHA256, SOURCE, {"X-Checksum-Sha1": "0" * 40})
    assert sha1.status_code == 400 and "sha1" in sha1.text, sha1.text
    summary_sha1 = put(SHA256 + ".json", b"{}", {"X-Checksum-Sha1": "0" * 40})
    assert summary_sha1.status_code == 400 and "sha1" in summary_sha1.text, summary_sha1.text
    not_json = put(SHA256 + ".json", b"{not json")
    assert not_json.status_code == 400 and "not JSON" in not_json.text, not_json.text
    big_summary = put(SHA256 + ".json", json.dumps({"references": {"x": ["y" * 70_000]}}).encode())
    assert big_summary.status_code == 400 and "limit" in big_summary.text, big_summary.text
    for name in ["abc", SHA256.upper(), SHA256 + ".txt", SHA256 + ".json.json", "..%2F..%2Fetc%2Fpasswd",
                 "%2e%2e", SHA256[:-1] + "g", "%FF" + SHA256[2:]]:
        bad = put(name, SOURCE)
        assert bad.status_code == 400, (name, bad.status_code, bad.text)
        assert requests.get(base + name, headers=headers, timeout=30).status_code == 400, name
    # A traversal that leaves the route is not a backup at all.
    assert requests.put(base + "../../../v2/ping", data=b"x", headers=headers, timeout=30).status_code in (404, 405)
    # Nothing of it was kept.
    for name in [SHA256, SHA256 + ".json"]:
        assert requests.get(base + name, headers=headers, timeout=30).status_code == 404
        assert requests.head(base + name, headers=headers, timeout=30).status_code == 404
    assert stored_blobs(server) == before
    assert staging_files(server) == []

    # Then the real thing works, with HEAD and Range as a resuming client uses them.
    assert put(SHA256 + ".json", b'{"references": {}}').status_code == 201
    assert put(SHA256, SOURCE).status_code == 201
    assert put(SHA256, SOURCE).status_code == 200
    head = requests.head(base + SHA256, headers=headers, timeout=30)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(SOURCE))
    part = requests.get(base + SHA256, headers={**headers, "Range": "bytes=10-19"}, timeout=30)
    assert part.status_code == 206 and part.content == SOURCE[10:20]


def test_permissions_follow_the_package_model(backup_server):
    server = backup_server
    base = backups_url(server)
    admin = {"Authorization": f"Bearer {pat(server, 'admin')}"}
    developer = {"Authorization": f"Bearer {user_with_role(server, 'dev', 'developer')}"}
    reporter = {"Authorization": f"Bearer {user_with_role(server, 'rep', 'reporter')}"}
    server.admin("user", "create", "outsider", "--password-stdin", stdin="outsider-password-1\n")
    outsider = {"Authorization": f"Bearer {pat(server, 'outsider')}"}
    writer = deploy_token(server, "ci-writer", "write-package-registry")
    reader = deploy_token(server, "ci-reader", "read-package-registry")
    url = base + SHA256

    # The default project is private: anonymous callers must log in, outsiders see nothing.
    assert requests.put(url, data=SOURCE, timeout=30).status_code == 401
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.put(url, data=SOURCE, headers=outsider, timeout=30).status_code == 404
    assert requests.put(url, data=SOURCE, headers=reporter, timeout=30).status_code == 403
    assert requests.put(url, data=SOURCE, auth=("ci-reader", reader), timeout=30).status_code == 403
    assert requests.get(url, headers=admin, timeout=30).status_code == 404
    # Developers and write deploy tokens upload; readers read.
    assert requests.put(url, data=SOURCE, auth=("ci-writer", writer), timeout=30).status_code == 201
    assert requests.put(url + ".json", data=b"{}", headers=developer, timeout=30).status_code == 200
    for caller in [{"headers": reporter}, {"auth": ("ci-reader", reader)}]:
        got = requests.get(url, timeout=30, **caller)
        assert got.status_code == 200 and got.content == SOURCE
    # The Packages API lists them to whoever may read the project.
    listing = f"{server.url}/api/v4/projects/1/packages/source_backups"
    listed = requests.get(listing, headers=reporter, timeout=30)
    assert listed.status_code == 200, listed.text
    assert [(entry["file_sha256"], entry["size"], entry["summary"]) for entry in listed.json()] == [
        (SHA256, len(SOURCE), {})]
    assert listed.headers["X-Page"] == "1" and listed.headers["X-Next-Page"] == ""
    assert requests.get(listing, headers=outsider, timeout=30).status_code == 404
    assert requests.get(listing, timeout=30).status_code == 404
    assert requests.get(url, headers=outsider, timeout=30).status_code == 404
    # Deleting is for maintainers, and for write deploy tokens, as for packages.
    assert requests.delete(url, headers=developer, timeout=30).status_code == 403
    assert requests.delete(url, auth=("ci-reader", reader), timeout=30).status_code == 403
    assert requests.delete(url, auth=("ci-writer", writer), timeout=30).status_code == 200
    assert requests.put(url, data=SOURCE, headers=developer, timeout=30).status_code == 201
    assert requests.delete(url + ".json", headers=admin, timeout=30).status_code == 400
    assert requests.delete(url, headers=admin, timeout=30).status_code == 200
    assert requests.get(url, headers=admin, timeout=30).status_code == 404
    assert requests.get(url + ".json", headers=admin, timeout=30).status_code == 404
    assert requests.delete(url, headers=admin, timeout=30).status_code == 404
    # Public projects serve anonymous readers, never anonymous writers.
    server.admin("project", "set-visibility", PROJECT, "public")
    assert requests.put(url, data=SOURCE, headers=admin, timeout=30).status_code == 201
    assert requests.get(url, timeout=30).content == SOURCE
    assert requests.put(url, data=SOURCE, timeout=30).status_code == 401


def test_concurrent_uploads_of_one_file_store_it_once(backup_server):
    server = backup_server
    headers = {"Authorization": f"Bearer {pat(server, 'admin')}"}
    url = backups_url(server) + SHA256
    before = stored_blobs(server)

    def upload(_):
        return requests.put(url, data=SOURCE, headers=headers, timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(upload, range(16)))
    assert statuses.count(201) == 1 and set(statuses) == {200, 201}, statuses
    after = stored_blobs(server)
    assert len(after) == len(before) + 1
    assert pathlib.PurePath(next(iter(set(after) - set(before)))).name == SHA256
    assert staging_files(server) == []
    assert requests.get(url, headers=headers, timeout=30).content == SOURCE


def age_backups(server, days):
    """Moves every backup's times `days` into the past, as if that long had gone by (the only
    way to test expiry by days without waiting them): straight in the server's database."""
    shift = days * 86_400 * 1_000_000
    sql = (f"UPDATE source_backups SET last_used_at = last_used_at - {shift}, "
           f"updated_at = updated_at - {shift}, created_at = created_at - {shift}")
    url = server.env.get("CONAN_REGISTRY__DATABASE__URL")
    if url:
        subprocess.run(["psql", url, "-qc", sql], check=True, capture_output=True, timeout=60)
    else:
        with sqlite3.connect(server.data_dir / "registry.db", timeout=30) as connection:
            connection.execute(sql)


def test_a_cleanup_policy_expires_the_backups_no_build_used(backup_server):
    """A download records the use, a policy's `source_backups_unused_days` removes the backups
    nobody uploaded or downloaded for that long, and the collector then frees their blobs."""
    server = backup_server
    token = pat(server, "admin")
    headers = {"Authorization": f"Bearer {token}"}
    base = backups_url(server)
    contents = {name: f"the sources of {name}\n".encode() * 20 for name in ("used", "unused")}
    shas = {name: hashlib.sha256(content).hexdigest() for name, content in contents.items()}
    for name, content in contents.items():
        summary = json.dumps({"references": {f"{name}/1.0": [f"https://example.com/{name}.tgz"]}})
        assert requests.put(base + shas[name] + ".json", data=summary, headers=headers, timeout=30).ok
        assert requests.put(base + shas[name], data=content, headers=headers, timeout=30).status_code == 201
    cleanup = Cleanup(server, token)
    # Everything is fresh: nothing expires.
    assert cleanup.dry_run(source_backups_unused_days=30)["items"] == []

    # 40 days on, a build downloads one of them (a GET of the file, as Conan's download does).
    age_backups(server, 40)
    assert requests.get(base + shas["used"], headers=headers, timeout=30).content == contents["used"]
    # The use is written in the background; the dry run sees it once it is.
    deadline = time.time() + 30
    while True:
        dry = cleanup.dry_run(source_backups_unused_days=30)
        if [item["reference"] for item in dry["items"]] == [shas["unused"]] or time.time() > deadline:
            break
        time.sleep(0.1)
    assert [item["reference"] for item in dry["items"]] == [shas["unused"]], dry
    assert dry["items"][0]["kind"] == "source_backup"
    assert dry["items"][0]["reason"] == "source_backups_unused_days"
    assert dry["totals"]["source_backups"] == 1
    assert dry["totals"]["stored_bytes"] == len(contents["unused"])
    # HEAD (the upload's existence check) is not a use; reading the summary is not either.
    assert requests.head(base + shas["unused"], headers=headers, timeout=30).status_code == 200
    assert requests.get(base + shas["unused"] + ".json", headers=headers, timeout=30).status_code == 200

    # The admin CLI sets the rule and runs the policy.
    shown = server.admin("cleanup", "set", PROJECT, "--source-backups-unused-days", "30").stdout
    assert "source_backups_unused_days" in shown, shown
    bad = server.admin("cleanup", "set", PROJECT, "--source-backups-unused-days", "0", check=False)
    assert bad.returncode != 0 and "source_backups_unused_days" in bad.stderr, bad.stderr
    ran = server.admin("cleanup", "run", PROJECT).stdout
    assert "0 recipe revisions, 0 package revisions, 1 source backups" in ran, ran
    assert requests.get(base + shas["unused"], headers=headers, timeout=30).status_code == 404
    assert requests.get(base + shas["unused"] + ".json", headers=headers, timeout=30).status_code == 404
    assert requests.get(base + shas["used"], headers=headers, timeout=30).content == contents["used"]
    run = cleanup.runs()[0]
    assert run["totals"]["source_backups"] == 1, run
    assert [item["reference"] for item in cleanup.removals(run["id"])] == [shas["unused"]]

    # The project's statistics count what is left; the collector frees the removed file's blob.
    project = requests.get(f"{server.url}/api/v4/projects/1", params={"statistics": "true"},
                           headers=headers, timeout=30).json()
    assert project["statistics"]["conan_source_backups_count"] == 1, project
    assert project["statistics"]["conan_source_backups_size"] == len(contents["used"]), project
    before = stored_blobs(server)
    server.admin("gc", "--grace-secs", "0")
    gone = set(before) - set(stored_blobs(server))
    assert [pathlib.PurePath(path).name for path in gone] == [shas["unused"]]
    metrics = requests.get(f"{server.url}/metrics", timeout=30).text
    assert "conan_registry_cleanup_removed_source_backups_total" in metrics
