"""The admin command line against the real database, SQLite and PostgreSQL: clear errors and a
non-zero exit for bad input, tokens that work with the real client, and a server on PostgreSQL."""

import os
import shutil
import subprocess
import uuid

import pytest
import requests

from conftest import ADMIN_PASSWORD, Server, write_recipe
from registry_api import Api, manifest_for, recipe_files

POSTGRES_URL = os.environ.get("CONAN_REGISTRY_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def backend_server(request, tmp_path):
    if request.param == "sqlite":
        instance = Server(tmp_path / "data")
        yield instance
        instance.stop()
        return
    if not POSTGRES_URL:
        if os.environ.get("CONAN_REGISTRY_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("CONAN_REGISTRY_TEST_POSTGRES_URL is required")
        pytest.skip("set CONAN_REGISTRY_TEST_POSTGRES_URL")
    if not shutil.which("psql"):
        pytest.skip("psql is not installed")
    database = f"conan_registry_blackbox_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", POSTGRES_URL, "-qc", f"CREATE DATABASE {database}"], check=True)
    base = POSTGRES_URL.split("?")[0].rsplit("/", 1)[0]
    url = f"{base}/{database}"
    instance = Server(tmp_path / "data", {"CONAN_REGISTRY__DATABASE__URL": url})
    yield instance
    instance.stop()
    subprocess.run(["psql", POSTGRES_URL, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=True)


def test_bad_input_is_one_clear_error_and_a_failing_exit(backend_server):
    server = backend_server
    cases = [
        (["member", "add", "no/such", "admin", "owner"], "unknown project"),
        (["member", "add", "demo/packages", "nobody", "owner"], "unknown user"),
        (["project", "create", "demo/packages"], "already exists"),
        (["project", "create", "bad path!"], "invalid project path"),
        (["user", "create", "admin"], "already exists"),
        (["token", "revoke", "999"], "no active personal access token"),
        (["deploy-token", "create", "demo/packages", "--scope", "api"], "deploy tokens take"),
    ]
    for args, message in cases:
        result = server.admin(*args, check=False)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert "panicked" not in result.stderr
    invalid_role = server.admin("member", "add", "demo/packages", "admin", "emperor", check=False)
    assert invalid_role.returncode != 0 and "emperor" in invalid_role.stderr


def test_tokens_from_the_cli_work_with_the_client(backend_server, conan, tmp_path):
    server = backend_server
    server.admin("user", "create", "dev", "--password-stdin", stdin="dev-password-1\n")
    server.admin("member", "add", "demo/packages", "dev", "developer")
    listed = server.admin("member", "list", "demo/packages").stdout
    assert "dev" in listed and "developer" in listed
    created = server.admin("token", "create", "dev", "--scope", "write-package-registry").stdout
    secret = created.strip().splitlines()[-1]
    assert secret.startswith("crpat-")
    assert secret not in server.admin("token", "list", "dev").stdout, "secrets are shown once"

    conan.run("remote", "add", "registry", server.project_remote())
    conan.run("remote", "login", "registry", "dev", "-p", secret)
    conan.run("create", str(write_recipe(tmp_path / "hello")), "-s", "arch=x86_64")
    conan.run("upload", "hello/1.0", "-r", "registry", "-c")
    assert "hello/1.0" in conan.json("list", "*", "-r", "registry")["registry"]

    token_id = server.admin("token", "list", "dev").stdout.splitlines()[1].split()[0]
    server.admin("token", "revoke", token_id)
    refused = conan.run("list", "*", "-r", "registry", check=False)
    assert "hello/1.0" not in refused.stdout

    deploy = server.admin("deploy-token", "create", "demo/packages", "--username", "ci-reader",
                          "--scope", "read-package-registry").stdout.strip().splitlines()[-1]
    conan.run("remote", "login", "registry", "ci-reader", "-p", deploy)
    assert "hello/1.0" in conan.json("list", "*", "-r", "registry")["registry"]
    server.admin("user", "disable", "admin")
    disabled = conan.run("remote", "login", "registry", "admin", "-p", ADMIN_PASSWORD, check=False)
    assert disabled.returncode != 0


def test_identity_changes_from_the_cli_count_at_the_servers_next_request(backend_server):
    """The server caches identity lookups (auth.identity_cache_entries); a change made by another
    process, here the admin command line, must still decide the very next request."""
    server = backend_server
    server.admin("user", "create", "dev", "--password-stdin", stdin="dev-password-1\n")
    server.admin("project", "create", "team/private")
    server.admin("member", "add", "team/private", "dev", "reporter")
    api = f"{server.url}/api/v4/projects/team%2Fprivate/packages/conan/v2"
    jwt = requests.get(f"{api}/users/authenticate", auth=("dev", "dev-password-1"), timeout=30)
    assert jwt.status_code == 200, jwt.text

    def search(anonymous=False):
        headers = {} if anonymous else {"Authorization": f"Bearer {jwt.text}"}
        return requests.get(f"{api}/conans/search", params={"q": "*"}, headers=headers,
                            timeout=30).status_code

    for _ in range(3):
        assert search() == 200
    assert search(anonymous=True) == 401
    server.admin("member", "remove", "team/private", "dev")
    assert search() == 404, "a former member of a private project must not see it"
    server.admin("member", "add", "team/private", "dev", "reporter")
    assert search() == 200
    server.admin("project", "set-visibility", "team/private", "public")
    assert search(anonymous=True) == 200
    server.admin("project", "set-visibility", "team/private", "private")
    assert search(anonymous=True) == 401
    old_key = server.admin("signing-key", "list").stdout.splitlines()[1].split()[0]
    server.admin("signing-key", "rotate")
    assert search() == 200, "older keys verify until removed"
    server.admin("signing-key", "remove", old_key)
    assert search() == 401


def test_project_stats_from_the_cli_and_the_api_agree(backend_server):
    """`project stats` counts what was uploaded (committed revisions only), as bytes downloaded
    and as bytes stored after deduplication, and GitLab's `?statistics=true` says the same."""
    server = backend_server
    api = Api.login(server)
    uploaded = []
    for seed in range(3):
        # The same conan_export.tgz in every revision: stored once.
        files = recipe_files(seed)
        files["conan_export.tgz"] = b"\x1f\x8bshared export bytes"
        files["conanmanifest.txt"] = manifest_for({k: v for k, v in files.items() if k != "conanmanifest.txt"})
        api.upload_revision("statspkg", files)
        uploaded.append(files)
    logical = sum(len(body) for files in uploaded for body in files.values())
    distinct = sum(len(body) for body in {body for files in uploaded for body in files.values()})
    assert distinct < logical

    result = server.admin("project", "stats", "demo/packages")
    header, row = result.stdout.strip().splitlines()
    assert header.split()[0] == "PROJECT"
    assert row.split() == ["demo/packages", "1", "3", "0", "0", str(3 * len(uploaded[0])), str(logical), str(distinct)]
    every = server.admin("project", "stats").stdout.strip().splitlines()
    assert row in every

    created = server.admin("token", "create", "admin", "--scope", "api").stdout
    pat = next(word for word in created.split() if word.startswith("crpat-"))
    project = requests.get(f"{server.url}/api/v4/projects/demo%2Fpackages", params={"statistics": "true"},
                           headers={"PRIVATE-TOKEN": pat}, timeout=30).json()
    assert project["statistics"]["packages_size"] == logical
    assert project["statistics"]["conan_stored_size"] == distinct
    assert project["statistics"]["conan_recipe_revisions_count"] == 3

    missing = server.admin("project", "stats", "no/such", check=False)
    assert missing.returncode != 0 and "unknown project" in missing.stderr
