"""Remote projects with the real Conan 2 client, on SQLite and PostgreSQL: a project of the main
registry caches a second conan-registry process (the upstream, started here on loopback, with
credentials sealed by `remote.credentials_key`). Installs from an empty cache go through it; with
the upstream stopped what was cached still installs and what was not fails fast and names the
upstream; a new upstream revision shows after the time to live and not before; 32 concurrent
clients of an uncached package fetch each upstream file once; uploads are refused."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import ADMIN_PASSWORD, ROOT, Server, write_recipe
from pgserver import shared_database
from rawhttp import wait_for

sys.path.insert(0, str(ROOT / "bench"))
from reference_server import REF_CONF  # noqa: E402  (bench/ is not a package)
from remotes import (KEY, MIRROR, all_at_once, conan_like_download, file_gets, get, install, make_remote, metric, package_files,
                     package_id, project_id_of, publish)


@pytest.fixture(params=["sqlite", "postgres"])
def main_env(request):
    env = {"CONAN_REGISTRY__REMOTE__CREDENTIALS_KEY": KEY}
    if request.param == "sqlite":
        yield env
        return
    with shared_database() as url:
        env["CONAN_REGISTRY__DATABASE__URL"] = url
        yield env


@pytest.fixture
def registries(tmp_path, main_env):
    """The upstream (its bootstrap project is private: the mirror needs its credentials) and the
    main registry with a public remote project caching it, time to live `ttl` (set per test)."""
    upstream = Server(tmp_path / "upstream")
    main = Server(tmp_path / "main", main_env)
    yield upstream, main
    main.stop()
    upstream.stop()


def listed_binaries(conan, remote):
    """`conan list hello/1.0:*` at `remote`: each binary's package id and its `arch`."""
    listed = conan.json("list", "hello/1.0:*", "-r", remote)[remote]["hello/1.0"]["revisions"]
    (revision,) = listed.values()
    return {pid: package["info"]["settings"]["arch"] for pid, package in revision["packages"].items()}


def test_install_through_remote_project_and_offline(registries, conan2_client, tmp_path):
    upstream, main = registries
    url = make_remote(main, upstream.project_remote(1))
    publisher = conan2_client()
    publish(publisher, tmp_path, upstream)
    expected = package_files(publisher)

    assert install(conan2_client(), url) == expected

    # Uploads to the remote project are refused with a message that says why.
    publisher.run("remote", "add", "main", url)
    publisher.run("remote", "login", "main", "admin", "-p", ADMIN_PASSWORD)
    refused = publisher.fail("upload", "hello/1.0", "-r", "main", "-c", "--force")
    assert "remote project" in refused.stderr + refused.stdout, refused.stderr

    upstream.stop()
    # Cached: installs from an empty cache with the upstream gone.
    assert install(conan2_client(), url) == expected
    # Not cached: a clear, fast failure naming the upstream, never its credentials.
    started = time.monotonic()
    status, _, body = get(f"{url}/v2/conans/other/1.0/_/_/latest")
    assert time.monotonic() - started < 15
    assert status in (502, 504), body
    assert b"127.0.0.1" in body and ADMIN_PASSWORD.encode() not in body, body
    assert ADMIN_PASSWORD not in main.log()

    # A restart empties the list cache: with the upstream still down, the revisions the
    # project holds answer, marked stale.
    main.stop()
    restarted = Server(main.data_dir, main.env)
    try:
        status, headers, body = get(f"{url.replace(main.url, restarted.url)}/v2/conans/hello/1.0/_/_/latest")
        assert status == 200 and headers.get("Warning") == '110 - "Response is Stale"', body
        assert install(conan2_client(), url.replace(main.url, restarted.url)) == expected
        assert "nothing cached: serving the revisions held" in restarted.log()
    finally:
        restarted.stop()


def test_new_revision_after_ttl_and_stale_when_down(registries, conan2_client, tmp_path):
    upstream, main = registries
    url = make_remote(main, upstream.project_remote(1), ttl=3)
    publisher = conan2_client()
    first = publish(publisher, tmp_path, upstream)
    latest = f"{url}/v2/conans/hello/1.0/_/_/latest"
    status, _, body = get(latest)
    assert status == 200 and json.loads(body)["revision"] == first, body

    second = publish(publisher, tmp_path, upstream, source="int answer = 43;\n")
    assert second != first
    # Within the time to live the cached list answers.
    assert json.loads(get(latest)[2])["revision"] == first
    time.sleep(3.5)
    status, headers, body = get(latest)
    assert json.loads(body)["revision"] == second, body
    assert headers.get("Warning") is None

    upstream.stop()
    time.sleep(3.5)
    status, headers, body = get(latest)
    assert status == 200 and json.loads(body)["revision"] == second, body
    assert headers.get("Warning") == '110 - "Response is Stale"'
    assert "serving a stale revision list" in main.log()


def test_concurrent_installs_fetch_each_file_once(registries, conan2_client, tmp_path):
    """32 clients at once ask for an uncached package. 32 real Conan clients are too heavy for
    a 2-core CI machine (each is a Python process taking seconds of CPU), so 28 are plain HTTP
    clients asking exactly what `conan install` asks, and 4 are the real client."""
    upstream, main = registries
    url = make_remote(main, upstream.project_remote(1))
    project_id = project_id_of(url)
    publisher = conan2_client()
    publish(publisher, tmp_path, upstream)
    expected = package_files(publisher)
    pid = package_id(publisher, "hello/1.0")
    conans = [conan2_client() for _ in range(4)]
    results = all_at_once([lambda conan=conan: install(conan, url) for conan in conans]
                          + [lambda: conan_like_download(url, pid)] * 28)
    installed, downloaded = results[:4], results[4:]
    assert all(result == expected for result in installed)
    sizes = {}
    counts = file_gets(upstream, sizes)
    assert counts, upstream.log()[-3000:]
    assert all(count == 1 for count in counts.values()), counts
    # The recipe's and the package's files.
    assert any("/packages/" in path for path in counts) and len(counts) >= 5, counts
    # Two revisions fetched (one miss each, whoever asked); clients that asked together all
    # count as misses (they shared the one fetch), so one read after them is the hit.
    assert metric(main, "remote_cache_misses", project_id) >= 2
    assert get(f"{url}/v2/conans/hello/1.0/_/_/latest")[0] == 200
    assert metric(main, "remote_cache_hits", project_id) > 0
    assert metric(main, "remote_upstream_errors", project_id) == 0
    # Every fetched file counted once, as many bytes as the upstream sent (the fetch stores the
    # manifest last, possibly just after the clients have their answers).
    wait_for(lambda: metric(main, "remote_fetched_bytes", project_id) == sum(sizes.values()) > 0,
             timeout=10, interval=0.1, message=f"fetched bytes to reach {sum(sizes.values())}")
    # The plain clients got the upstream's bytes (read from it only now: its log counted the
    # registry's fetches alone).
    upstream_files = conan_like_download(upstream.project_remote(1), pid, auth=("admin", ADMIN_PASSWORD))
    assert all(result == upstream_files for result in downloaded)


def test_virtual_project_local_member_wins_over_remote(registries, conan2_client, tmp_path):
    """V = [remote, local], the remote member first on purpose: the local hello/1.0 answers,
    and a reference only the upstream has comes through the remote member."""
    upstream, main = registries
    remote_url = make_remote(main, upstream.project_remote(1))
    publisher = conan2_client()
    publish(publisher, tmp_path, upstream, source="int answer = 1; /* upstream */\n")
    # The remote member holds the upstream's hello/1.0 before the virtual project is asked.
    assert b"upstream" in install(conan2_client(), remote_url)["src/answer.c"]
    publish(publisher, tmp_path, upstream, name="only", source="int only = 1;\n")

    main.admin("project", "create", "team/local", "--visibility", "public")
    out = main.admin("project", "create", "team/all", "--visibility", "public", "--virtual").stdout
    virtual_id = int(re.search(r"\(id (\d+),", out).group(1))
    main.admin("virtual", "add", "team/all", MIRROR)
    main.admin("virtual", "add", "team/all", "team/local")
    local = conan2_client()
    local.run("remote", "add", "main", main.url + "/api/v4/projects/team%2Flocal/packages/conan")
    local.run("remote", "login", "main", "admin", "-p", ADMIN_PASSWORD)
    directory = write_recipe(tmp_path / "local-hello", source="int answer = 2; /* local */\n")
    local.run("create", str(directory), "-s", "arch=x86_64")
    local.run("upload", "hello/1.0", "-r", "main", "-c")
    local_files = package_files(local)

    url = main.project_remote(virtual_id)
    got = install(conan2_client(), url)
    assert got == local_files
    assert b"local" in got["src/answer.c"]
    assert b"int only = 1;" in install(conan2_client(), url, "only/1.0")["src/answer.c"]
    # Uploads through a virtual project whose deploy member is the remote one are refused.
    main.admin("virtual", "deploy", "team/all", MIRROR)
    local.run("remote", "add", "virtual", url)
    local.run("remote", "login", "virtual", "admin", "-p", ADMIN_PASSWORD)
    refused = local.fail("upload", "hello/1.0", "-r", "virtual", "-c", "--force")
    assert "remote project" in refused.stderr + refused.stdout, refused.stderr


def test_admin_cli_refusals(tmp_path):
    """Credentials without remote.credentials_key, a virtual project, a bad URL, an unknown
    project: each refused with why, changing nothing."""
    main = Server(tmp_path / "main")
    try:
        main.admin("project", "create", "a/b", "--visibility", "public")
        main.admin("project", "create", "a/v", "--virtual")
        cases = [
            (("a/b", "--url", "http://127.0.0.1:1/x", "--user", "u", "--password-stdin"), "remote.credentials_key"),
            (("a/v", "--url", "http://127.0.0.1:1/x"), "virtual project"),
            (("a/b", "--url", "ftp://host/x"), "http"),
            (("a/b", "--url", "http://user:pw@host/x"), "credentials"),
            (("a/b", "--url", "http://host/x", "--metadata-ttl-secs", "0"), "metadata_ttl_secs"),
            (("no/such", "--url", "http://host/x"), "unknown project"),
        ]
        for args, message in cases:
            result = main.admin("remote", "set", *args, stdin="secret-pw\n", check=False)
            assert result.returncode != 0, args
            assert message in result.stderr, (args, result.stderr)
            assert "secret-pw" not in result.stderr + result.stdout
            assert "not a remote project" in main.admin("remote", "show", "a/b").stdout
        main.admin("remote", "set", "a/b", "--url", "http://127.0.0.1:1/x")
        assert "credentials         none" in main.admin("remote", "show", "a/b").stdout
        assert "ordinary project again" in main.admin("remote", "clear", "a/b").stdout
        assert "not a remote project" in main.admin("remote", "show", "a/b").stdout
    finally:
        main.stop()


# --- the reference conan_server as the upstream ---------------------------------------------

BENCH_VENV = ROOT / "target" / "bench-venv"
BENCH_REQUIREMENT = "conan-server==2.33.0 gunicorn==27.0.1 requests==2.34.2"
REF_USER, REF_PASSWORD = "demo", "demo-password-1"


def ensure_bench_venv():
    """The reference server's venv, installed as scripts/bench does when it is missing."""
    stamp = BENCH_VENV / ".requirement"
    if (BENCH_VENV / "bin" / "gunicorn").exists() and stamp.exists() and stamp.read_text().strip() == BENCH_REQUIREMENT:
        return
    shutil.rmtree(BENCH_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                    *BENCH_REQUIREMENT.split()], check=True)
    stamp.write_text(BENCH_REQUIREMENT + "\n")


@pytest.fixture
def conan_server(tmp_path):
    """conan_server under gunicorn (one sync worker) on a free loopback port."""
    ensure_bench_venv()
    home = tmp_path / "conan-server"
    (home / "data").mkdir(parents=True)
    (home / "tmp").mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (home / "server.conf").write_text(REF_CONF.format(
        secret="b" * 32, updown="u" * 32, port=port, storage=home / "data", user=REF_USER,
        password=REF_PASSWORD))
    env = dict(os.environ, CONAN_SERVER_HOME=str(home), TMPDIR=str(home / "tmp"))
    log = open(home / "server.log", "w")
    process = subprocess.Popen(
        [str(BENCH_VENV / "bin" / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "1", "-t", "300",
         "conans.server.server_launcher:app"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if get(f"{url}/v1/ping")[0] == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            raise RuntimeError("conan_server did not start:\n" + (home / "server.log").read_text())
        time.sleep(0.2)

    class Reference:
        pass

    reference = Reference()
    reference.url, reference.process = url, process
    yield reference
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=20)
    log.close()


def test_reference_conan_server_as_upstream(conan_server, tmp_path, main_env, conan2_client):
    main = Server(tmp_path / "main", main_env)
    try:
        main.admin("project", "create", MIRROR, "--visibility", "public")
        out = main.admin("remote", "set", MIRROR, "--url", conan_server.url, "--user", REF_USER,
                         "--password-stdin", stdin=REF_PASSWORD + "\n").stdout
        url = main.project_remote(int(re.search(r"\(id (\d+)\)", out).group(1)))
        publisher = conan2_client()
        publisher.run("remote", "add", "ref", conan_server.url)
        publisher.run("remote", "login", "ref", REF_USER, "-p", REF_PASSWORD)
        directory = write_recipe(tmp_path / "ref-hello")
        publisher.run("create", str(directory), "-s", "arch=x86_64")
        publisher.run("upload", "hello/1.0", "-r", "ref", "-c")
        expected = package_files(publisher)

        # Nothing cached: the binaries through the reference server's package search.
        lister = conan2_client()
        lister.run("remote", "add", "main", url)
        assert listed_binaries(lister, "main") == {package_id(publisher, "hello/1.0"): "x86_64"}
        assert install(conan2_client(), url) == expected
        conan_server.process.terminate()
        conan_server.process.wait(timeout=20)
        assert install(conan2_client(), url) == expected
        assert REF_PASSWORD not in main.log()
    finally:
        main.stop()


def test_search_through_the_remote_project_and_what_the_upstream_no_longer_has(registries, conan2_client, tmp_path):
    upstream, main = registries
    url = make_remote(main, upstream.project_remote(1))
    publisher = conan2_client()
    revision = publish(publisher, tmp_path, upstream)
    conan = conan2_client()
    conan.run("remote", "add", "main", url)
    # Nothing cached yet: `conan list` finds the recipe through the upstream's search.
    assert list(conan.json("list", "hello/*", "-r", "main")["main"]) == ["hello/1.0"]
    assert conan.json("list", "nothing*", "-r", "main")["main"] == {}
    # ... and the binaries through the upstream's package search, with their settings.
    assert listed_binaries(conan, "main") == {package_id(publisher, "hello/1.0"): "x86_64"}
    install(conan, url)
    # The Packages API shows what the remote project cached, like any project's packages.
    status, _, body = get(f"{main.url}/api/v4/projects/{project_id_of(url)}/packages")
    assert status == 200, body
    assert [p["conan_package_name"] for p in json.loads(body)] == ["hello"], body

    check = main.admin("remote", "check", MIRROR).stdout
    assert "1 recipe revisions checked" in check and ": 0 no longer upstream" in check, check
    assert "gone" not in check, check
    # The upstream deletes the revision: the cache keeps it, `remote check` names it.
    publisher.run("remove", f"hello/1.0#{revision}", "-r", "up", "-c")
    check = main.admin("remote", "check", MIRROR).stdout
    assert f"gone  hello/1.0#{revision}" in check and ": 1 no longer upstream" in check, check
    assert install(conan2_client(), url)

    # Refused, clearly: not a remote project, or its upstream unreachable.
    main.admin("project", "create", "team/plain")
    refused = main.admin("remote", "check", "team/plain", check=False)
    assert refused.returncode != 0 and "not a remote project" in refused.stderr, refused
    upstream.stop()
    refused = main.admin("remote", "check", MIRROR, check=False)
    assert refused.returncode != 0 and "nothing was decided" in refused.stderr, refused
    assert ADMIN_PASSWORD not in refused.stderr + refused.stdout
