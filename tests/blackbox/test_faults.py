"""Faults against the real server process: a kill -9 mid-upload, PostgreSQL stopping under
load, the S3 store (Garage) killed and restarted, a full blob store, clients that vanish
mid-transfer, and, at a remote project, readers vanishing from a file streaming from the
upstream and PostgreSQL stopping in the middle of such a fetch. After each, nothing half-done is
visible, nothing is left behind that `gc` does not remove, and the server serves again by
itself.
"""

import concurrent.futures
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest
import requests

import rawhttp
from pgserver import private_postgres
from s3servers import Garage, blob_env
from registry_api import (
    Api,
    blob_root,
    manifest_for,
    recipe_files,
    revision_of,
    sqlite_rows,
    staging_files,
    stored_blobs,
)

MiB = 1 << 20


def path_of(url):
    return urllib.parse.urlsplit(url).path


def referenced_blobs(server):
    return {row[0] for row in sqlite_rows(server, "SELECT DISTINCT sha256 FROM files")}


def assert_no_orphans(server):
    """Every published blob file is referenced by a file row, and every row's blob exists."""
    on_disk = {pathlib.PurePath(path).name for path in stored_blobs(server)}
    referenced = referenced_blobs(server)
    assert on_disk == referenced, (on_disk, referenced)


def start_streaming_put(server, token, target, size):
    """Opens a PUT of `size` bytes and returns the socket, headers sent, no body yet."""
    sock = rawhttp.connect(server.url, timeout=30)
    sock.sendall(rawhttp.head_bytes("PUT", target, [
        ("Host", "registry"),
        ("Authorization", f"Bearer {token}"),
        ("Content-Length", str(size)),
    ]))
    return sock


# ---------------------------------------------------------------------------------------------


def test_kill_9_during_a_500_mib_upload(make_server):
    server = make_server()
    api = Api.login(server)
    files = recipe_files("killed")
    rrev = revision_of(files)
    base = f"{api.recipe_url('big')}/revisions/{rrev}/files"
    # One file of the revision arrives whole; the revision is not committed (no manifest).
    assert api.put(f"{base}/conanfile.py", files["conanfile.py"]).status_code == 200

    # A 500 MiB sources archive, streamed from one reused buffer: the server is killed half-way,
    # once most of what was sent sits in the staging area.
    size = 500 * MiB
    block = hashlib.sha256(b"block").digest() * (MiB // 32)
    sock = start_streaming_put(server, api.token, path_of(f"{base}/conan_sources.tgz"), size)
    sent = 0
    staged = lambda: sum(p.stat().st_size for p in (blob_root(server) / "staging").rglob("*") if p.is_file())
    try:
        while sent < size - MiB:
            sock.sendall(block)
            sent += len(block)
            if sent >= size // 2 and sent % (16 * MiB) == 0 and staged() >= 192 * MiB:
                break
        assert sent < size, "the whole body went through before the kill"
        server.kill()
    finally:
        rawhttp.abort(sock)
    assert staging_files(server), "the killed upload left its staging data behind"
    blobs_before = stored_blobs(server)

    # After a restart nothing of the upload is visible: the revision is not committed, no
    # partial file is served, and no blob was published for it.
    restarted = make_server(data_dir=server.data_dir)
    api = Api.login(restarted)
    assert api.revisions("big") is None
    assert api.get(f"{api.recipe_url('big')}/latest").status_code == 404
    assert api.files("big", rrev) is None
    for path in ("conan_sources.tgz", "conanfile.py"):
        assert api.download("big", rrev, path).status_code == 404
    assert stored_blobs(restarted) == blobs_before
    assert len(blobs_before) == 1, "only conanfile.py was published"

    # gc (with every server stopped, as `--staging-age-secs 0` demands) removes the staging data
    # and leaves no orphan.
    restarted.stop()
    result = restarted.admin("gc", "--staging-age-secs", "0", "--grace-secs", "0")
    assert staging_files(restarted) == [], result.stdout + result.stderr
    assert_no_orphans(restarted)
    assert restarted.admin("verify").returncode == 0

    # The client simply uploads again and the revision commits.
    again = make_server(data_dir=server.data_dir)
    api = Api.login(again)
    files["conan_sources.tgz"] = b"\x1f\x8b small sources"
    files["conanmanifest.txt"] = manifest_for({k: v for k, v in files.items() if k != "conanmanifest.txt"})
    api.upload_revision("big", files, rrev=rrev)
    assert api.revisions("big") == [rrev]
    assert api.download("big", rrev, "conan_sources.tgz").content == files["conan_sources.tgz"]


# ---------------------------------------------------------------------------------------------


def test_postgres_stopped_while_requests_run(make_server):
    with private_postgres() as postgres:
        postgres.psql("CREATE DATABASE registry")
        server = make_server({
            "CONAN_REGISTRY__DATABASE__URL": postgres.url("registry"),
            "CONAN_REGISTRY__DATABASE__ACQUIRE_TIMEOUT_MS": "1000",
            "CONAN_REGISTRY__DATABASE__MAX_CONNECTIONS": "4",
        })
        api = Api.login(server)
        files = recipe_files("pg")
        rrev = api.upload_revision("zlib", files)
        recipe = api.recipe_url("zlib")
        login_url = f"{server.project_remote()}/v2/users/authenticate"
        created = server.admin("token", "create", "admin", "--scope", "api").stdout
        pat = next(word for word in created.split() if word.startswith("crpat-"))
        # The web interface: a page read in a session opened before the outage, and signing in.
        web = requests.Session()
        sign_in = f"{server.url}/-/web/sign-in"
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', web.get(sign_in, timeout=15).text).group(1)
        form = {"csrf_token": csrf, "username": "admin", "password": "admin-password-1"}
        assert web.post(sign_in, data=form, timeout=15).status_code == 200

        # Source backups: a file and its summary, stored before the outage (then 200 each time).
        backup = f"{server.project_remote()}/backups/{hashlib.sha256(b'backed up').hexdigest()}"
        bearer = {"Authorization": f"Bearer {pat}"}
        assert requests.put(backup, data=b"backed up", headers=bearer, timeout=15).status_code == 201
        assert requests.put(backup + ".json", data=b"{}", headers=bearer, timeout=15).status_code == 200

        requests_to_make = {
            "backup download": lambda session: session.get(backup, headers=bearer, timeout=15),
            "backup summary upload": lambda session: session.put(
                backup + ".json", data=b'{"references": {}}', headers=bearer, timeout=15),
            "web page": lambda session: web.get(f"{server.url}/-/web/projects/demo/packages", timeout=15),
            "web sign-in": lambda session: web.post(sign_in, data=form, timeout=15),
            "packages api": lambda session: session.get(
                f"{server.url}/api/v4/projects/1/packages", headers={"PRIVATE-TOKEN": pat}, timeout=15),
            "latest": lambda session: session.get(f"{recipe}/latest", headers=api.headers(), timeout=15),
            "download": lambda session: session.get(f"{recipe}/revisions/{rrev}/files/conanfile.py", headers=api.headers(), timeout=15),
            "login": lambda session: session.get(login_url, auth=("admin", "admin-password-1"), timeout=15),
            "upload": lambda session: session.put(
                f"{recipe}/revisions/{'d' * 32}/files/conanfile.py", data=b"x", headers=api.headers(), timeout=15),
        }
        # (phase, kind, status, seconds, body, content type, retry-after); the phase is the one
        # the request started and ended in, or "changing" when it spans a change.
        seen = []
        phase = ["up"]
        stop = threading.Event()

        def load(kind):
            session = requests.Session()
            while not stop.is_set():
                started, at_start = time.time(), phase[0]
                try:
                    response = requests_to_make[kind](session)
                    outcome = (response.status_code, time.time() - started, response.text[:300],
                               response.headers.get("content-type"), response.headers.get("retry-after"))
                except requests.RequestException as error:
                    outcome = (repr(error), time.time() - started, "", None, None)
                seen.append((at_start if phase[0] == at_start else "changing", kind, *outcome))
                time.sleep(0.05)

        threads = [threading.Thread(target=load, args=(kind,), daemon=True) for kind in requests_to_make for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(1)

        phase[0] = "stopping"
        postgres.stop("fast")
        phase[0] = "down"
        time.sleep(4)
        ready = requests.get(f"{server.url}/-/ready", timeout=15)

        postgres.start()
        phase[0] = "recovering"
        rawhttp.wait_for(
            lambda: api.get(f"{recipe}/latest").status_code == 200 and
            requests.get(login_url, auth=("admin", "admin-password-1"), timeout=15).status_code == 200,
            timeout=30, interval=0.2, message="the server to recover by itself",
        )
        phase[0] = "back"
        time.sleep(1)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

        assert server.alive(), server.log()
        statuses = {(entry[0], entry[1], entry[2]) for entry in seen}
        # Never a 500, never a broken connection, never a hang: every answer within the bound.
        assert not [entry for entry in seen if not isinstance(entry[2], int)], seen
        assert not [entry for entry in seen if entry[2] >= 500 and entry[2] != 503], seen
        assert max(entry[3] for entry in seen) < 10, sorted(seen, key=lambda entry: -entry[3])[:3]
        assert all(entry[2] == 200 for entry in seen if entry[0] == "up"), [e for e in seen if e[0] == "up" and e[2] != 200]
        # While PostgreSQL was down, every kind of request got a clear 503 with Retry-After.
        outage = [entry for entry in seen if entry[0] == "down"]
        for kind in requests_to_make:
            answers = [entry for entry in outage if entry[1] == kind]
            assert answers, (kind, statuses)
            unavailable = [entry for entry in answers if entry[2] == 503]
            assert unavailable, (kind, answers[-3:])
            for entry in unavailable:
                assert entry[6] == "1", entry
                if kind.startswith("web"):
                    # The interface's own page, not the API's JSON.
                    assert entry[5] == "text/html; charset=utf-8", entry
                    assert "Service unavailable" in entry[4], entry
                else:
                    assert entry[5] == "application/json", entry
                    assert "503 Service Unavailable - the metadata database is unavailable" in entry[4], entry
        if ready.status_code != 404:  # the readiness probe is the binary's (ops interface)
            assert ready.status_code == 503, ready.text
        # Once it is back, everything answers normally again.
        back = [entry for entry in seen if entry[0] == "back"]
        assert back and all(entry[2] in (200,) for entry in back), back[-5:]
        assert api.download("zlib", rrev, "conanfile.py").content == files["conanfile.py"]
        assert Api.login(server).upload_revision("zlib", recipe_files("after"))


# ---------------------------------------------------------------------------------------------


def test_s3_store_killed_and_restarted(make_server, tmp_path_factory):
    """Garage, holding the blobs, is killed (SIGKILL) and restarted on the same data while the
    node runs. A real server is needed: moto keeps nothing across a restart."""
    garage = Garage(tmp_path_factory.mktemp("garage"))
    try:
        server = make_server(blob_env(garage.s3))
        api = Api.login(server)
        # 12 MiB: a multipart upload to S3 (8 MiB parts), then a copy to the content address.
        kept = recipe_files("kept", size=12 * MiB)
        rrev_kept = api.upload_revision("kept", kept)
        assert requests.get(f"{server.url}/-/ready", timeout=30).status_code == 200

        garage.kill()
        # The node says which part is missing (within the probe's 5-second bound), and only that.
        started = time.time()
        ready = requests.get(f"{server.url}/-/ready", timeout=30)
        assert ready.status_code == 503, ready.text
        assert ready.json() == {"status": "unavailable", "database": "ok", "blobs": "unavailable"}
        assert time.time() - started < 10

        # An upload that starts while the store is down, file by file as a client sends them,
        # stopping at the first failure: each PUT either waits for the store (the S3 client
        # retries, with backoff) and succeeds, or fails with a 5xx after its retries; the store
        # is back after three seconds. Either the revision commits whole or nothing of it shows,
        # and the client's retry then commits it.
        during = recipe_files("during", size=12 * MiB)
        rrev_during = revision_of(during)
        statuses = []

        def upload():
            base = f"{api.recipe_url('during')}/revisions/{rrev_during}/files"
            for path in ["conanfile.py", "conan_export.tgz", "conanmanifest.txt"]:
                statuses.append((path, api.put(f"{base}/{path}", during[path]).status_code))
                if statuses[-1][1] != 200:
                    return

        uploading = threading.Thread(target=upload, daemon=True)
        uploading.start()
        time.sleep(3)
        garage.restart()
        uploading.join(timeout=300)
        assert not uploading.is_alive(), "the upload never finished"
        failed = [status for _, status in statuses if status != 200]
        print(f"upload across the outage: {statuses}")
        if failed:
            assert failed[0] == 503, statuses
            assert api.revisions("during") is None, statuses
            assert api.files("during", rrev_during) is None
            api.upload_revision("during", during)
        assert api.revisions("during") == [rrev_during]
        for path, data in during.items():
            assert api.download("during", rrev_during, path).content == data

        # Back: ready again, what was stored before is served whole, new uploads commit.
        deadline = time.time() + 60
        while requests.get(f"{server.url}/-/ready", timeout=30).status_code != 200:
            assert time.time() < deadline, "the node did not become ready again"
            time.sleep(0.5)
        for path, data in kept.items():
            assert api.download("kept", rrev_kept, path).content == data
        after = recipe_files("after", size=12 * MiB)
        api.upload_revision("after", after)
        assert api.download("after", revision_of(after), "conan_export.tgz").content == after["conan_export.tgz"]
        report = server.admin("verify")
        assert "0 problem(s)" in report.stdout, report.stdout
    finally:
        garage.stop()


@pytest.fixture
def small_filesystem():
    """A 20 MiB file system (tmpfs; as a fallback a loop-mounted ext4 image): needs root."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix="conan-registry-full-"))
    image = None
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m,mode=0755", "tmpfs", str(directory)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        image = pathlib.Path(tempfile.mkstemp(prefix="conan-registry-full-", suffix=".img")[1])
        with open(image, "wb") as handle:
            handle.truncate(20 * MiB)
        made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
        mounted = subprocess.run(["mount", "-o", "loop", str(image), str(directory)], capture_output=True, text=True)
        if made.returncode != 0 or mounted.returncode != 0:
            image.unlink(missing_ok=True)
            shutil.rmtree(directory, ignore_errors=True)
            pytest.skip(f"cannot mount a small file system here (tmpfs or loop): {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)
        if image:
            image.unlink(missing_ok=True)


def put_until_answered(server, token, target, body, sha1):
    """PUTs `body` from a sender thread while reading the answer, which may come before the
    body is all sent (the server stops reading when the store fails)."""
    sock = rawhttp.connect(server.url, timeout=60)
    sock.sendall(rawhttp.head_bytes("PUT", target, [
        ("Host", "registry"), ("Authorization", f"Bearer {token}"), ("X-Checksum-Sha1", sha1),
        ("Content-Length", str(len(body))), ("Connection", "close"),
    ]))

    def send():
        try:
            view = memoryview(body)
            for offset in range(0, len(body), MiB):
                sock.sendall(view[offset:offset + MiB])
        except OSError:
            pass  # the server answered and closed

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        return rawhttp.read_response(sock)
    finally:
        sender.join(timeout=30)
        sock.close()


def test_blob_store_full_during_an_upload(make_server, small_filesystem):
    server = make_server({
        "CONAN_REGISTRY__BLOBS__KIND": "filesystem",
        "CONAN_REGISTRY__BLOBS__ROOT": str(small_filesystem),
    })
    api = Api.login(server)
    earlier = recipe_files("earlier")
    earlier["conan_sources.tgz"] = os.urandom(4 * MiB)
    earlier["conanmanifest.txt"] = manifest_for({k: v for k, v in earlier.items() if k != "conanmanifest.txt"})
    early_rrev = api.upload_revision("zlib", earlier)
    rows_before = sqlite_rows(server, "SELECT * FROM files ORDER BY id")

    # A 30 MiB file cannot fit in what is left of 20 MiB.
    files = recipe_files("too-big")
    rrev = revision_of(files)
    big = os.urandom(30 * MiB)
    target = path_of(f"{api.recipe_url('zlib')}/revisions/{rrev}/files/conan_sources.tgz")
    response = put_until_answered(server, api.token, target, big, hashlib.sha1(big).hexdigest())
    assert response is not None, "no answer: " + server.log()[-2000:]
    assert response.status == 507, response
    assert response.headers["content-type"] == "application/json"
    assert response.json()["message"] == "507 Insufficient Storage - the package file storage is full"

    # Nothing was recorded for it, no staging data stays, no row points at a missing blob.
    rawhttp.wait_for(lambda: not staging_files(server), message="the failed upload's staging data to go")
    assert sqlite_rows(server, "SELECT * FROM files ORDER BY id") == rows_before
    assert hashlib.sha256(big).hexdigest() not in referenced_blobs(server)
    assert_no_orphans(server)
    assert api.files("zlib", rrev) is None
    # Earlier files are intact and download.
    assert api.revisions("zlib") == [early_rrev]
    for path, data in earlier.items():
        response = api.download("zlib", early_rrev, path)
        assert response.status_code == 200 and response.content == data, path
    # The space the failed upload took is free again: a smaller upload succeeds.
    assert api.upload_revision("zlib", recipe_files("after"))
    assert server.admin("verify").returncode == 0
    server.stop()


# ---------------------------------------------------------------------------------------------


def test_clients_vanishing_mid_upload_and_mid_download(make_server):
    workers = 2
    server = make_server({"CONAN_REGISTRY__SERVER__WORKERS": str(workers)})
    api = Api.login(server)
    files = recipe_files("downloads")
    files["conan_sources.tgz"] = os.urandom(8 * MiB)
    files["conanmanifest.txt"] = manifest_for({k: v for k, v in files.items() if k != "conanmanifest.txt"})
    rrev = api.upload_revision("zlib", files)
    download_target = path_of(f"{api.recipe_url('zlib')}/revisions/{rrev}/files/conan_sources.tgz")
    cut = recipe_files("cut")
    cut_rrev = revision_of(cut)
    upload_base = path_of(f"{api.recipe_url('cut')}/revisions/{cut_rrev}/files")

    count = 8 * workers  # far more vanishing clients than workers, all at once
    barrier = threading.Barrier(2 * count)

    def vanish_mid_upload(n):
        sock = start_streaming_put(server, api.token, f"{upload_base}/conan_sources.tgz", 4 * MiB)
        sock.sendall(os.urandom(MiB))
        barrier.wait(timeout=30)
        if n % 2:
            rawhttp.abort(sock)  # a reset, as from a killed client
        else:
            sock.close()  # a clean close before the announced length

    def vanish_mid_download(n):
        sock = rawhttp.connect(server.url, timeout=30)
        sock.sendall(rawhttp.head_bytes("GET", download_target, [("Host", "registry"), ("Authorization", f"Bearer {api.token}")]))
        received = 0
        while received < 256 * 1024:
            data = sock.recv(65536)
            assert data, "the download ended early"
            received += len(data)
        barrier.wait(timeout=30)
        if n % 2:
            rawhttp.abort(sock)
        else:
            sock.close()

    with concurrent.futures.ThreadPoolExecutor(2 * count) as pool:
        jobs = [pool.submit(vanish_mid_upload, n) for n in range(count)]
        jobs += [pool.submit(vanish_mid_download, n) for n in range(count)]
        for job in jobs:
            job.result(timeout=60)

    # The server still answers promptly: no worker is stuck on a vanished client.
    for _ in range(5):
        started = time.time()
        assert api.get(f"{api.recipe_url('zlib')}/latest").status_code == 200
        assert time.time() - started < 2
    started = time.time()
    assert api.download("zlib", rrev, "conan_sources.tgz").content == files["conan_sources.tgz"]
    assert time.time() - started < 10
    # Nothing was committed or stored for the cut uploads, and their staging data is gone.
    assert api.revisions("cut") is None
    assert api.files("cut", cut_rrev) is None
    rawhttp.wait_for(lambda: not staging_files(server), timeout=15, message="staging data of cut uploads to go")
    assert_no_orphans(server)
    # And the same upload, done properly, works.
    assert api.upload_revision("cut", cut) == cut_rrev


# ---------------------------------------------------------------------------------------------
# Remote projects: a file of a revision not yet held streams to its readers while it is stored.
# Readers that vanish must not stop the fetch for the others, and a database outage in the
# middle of a fetch must leave nothing committed and let the next read fetch again.

REMOTE_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def big_revision(seed, size):
    files = recipe_files(seed)
    files["conan_sources.tgz"] = os.urandom(size)
    files["conanmanifest.txt"] = manifest_for({k: v for k, v in files.items() if k != "conanmanifest.txt"})
    return files


def upstream_file_gets(upstream, name):
    """How many times the upstream served a file of `name` (its access log)."""
    return len([line for line in upstream.log().splitlines()
                if "conan_registry::access" in line and "method=GET" in line and "status=200" in line
                and f"/conans/{name}/" in line and "/files/" in line])


def test_remote_fetch_survives_vanishing_readers_and_a_database_outage(make_server, tmp_path):
    upstream = make_server(data_dir=tmp_path / "upstream")
    publisher = Api.login(upstream)
    first, second = big_revision("vanish", 24 * MiB), big_revision("outage", 192 * MiB)
    first_rrev = publisher.upload_revision("vanish", first)
    second_rrev = publisher.upload_revision("outage", second)
    with private_postgres() as postgres:
        postgres.psql("CREATE DATABASE registry")
        main = make_server({
            "CONAN_REGISTRY__DATABASE__URL": postgres.url("registry"),
            "CONAN_REGISTRY__DATABASE__ACQUIRE_TIMEOUT_MS": "1000",
            "CONAN_REGISTRY__REMOTE__CREDENTIALS_KEY": REMOTE_KEY,
        }, data_dir=tmp_path / "main")
        main.admin("project", "create", "mirror/up", "--visibility", "public")
        out = main.admin("remote", "set", "mirror/up", "--url", upstream.project_remote(1), "--user", "admin",
                         "--password-stdin", stdin="admin-password-1\n").stdout
        mirror_id = int(re.search(r"\(id (\d+)\)", out).group(1))
        base = f"{main.project_remote(mirror_id)}/v2/conans"
        first_url = f"{base}/vanish/1.0/_/_/revisions/{first_rrev}/files/conan_sources.tgz"

        # Readers of the file not yet held vanish after their first bytes, all at once.
        def vanish(n):
            sock = rawhttp.connect(main.url, timeout=30)
            sock.sendall(rawhttp.head_bytes("GET", path_of(first_url), [("Host", "registry")]))
            received = 0
            while received < 256 * 1024:
                data = sock.recv(65536)
                assert data, "the stream ended early"
                received += len(data)
            if n % 2:
                rawhttp.abort(sock)
            else:
                sock.close()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for job in [pool.submit(vanish, n) for n in range(8)]:
                job.result(timeout=60)
        # The fetch went on without them: the revision is committed (listed by the Packages
        # API, which shows committed packages only), whole, each file fetched once.
        packages = f"{main.url}/api/v4/projects/{mirror_id}/packages"
        rawhttp.wait_for(lambda: [p["conan_package_name"] for p in requests.get(packages, timeout=15).json()] == ["vanish"],
                         timeout=30, interval=0.2, message="the fetch to finish without its readers")
        assert requests.get(first_url, timeout=60).content == first["conan_sources.tgz"]
        assert upstream_file_gets(upstream, "vanish") == len(first), upstream.log()[-3000:]

        # PostgreSQL stops while a large file streams: the reader's transfer is cut (or, if the
        # fetch won the race, whole and right), nothing half-fetched is committed, and once the
        # database is back the same read fetches again and gets the right bytes.
        second_url = f"{base}/outage/1.0/_/_/revisions/{second_rrev}/files/conan_sources.tgz"
        outcome = {}

        def read_slowly():
            try:
                with requests.get(second_url, stream=True, timeout=30) as response:
                    outcome["status"] = response.status_code
                    body = bytearray()
                    for chunk in response.iter_content(1 << 20):
                        body += chunk
                        outcome.setdefault("started", time.time())
                        # A slow reader paces the fetch, so the outage lands in its middle.
                        time.sleep(0.02)
                    outcome["body"] = bytes(body)
            except requests.RequestException as error:
                outcome["error"] = repr(error)

        reader = threading.Thread(target=read_slowly)
        reader.start()
        rawhttp.wait_for(lambda: "started" in outcome or "error" in outcome or "status" in outcome,
                         timeout=30, interval=0.01, message="the first bytes")
        postgres.stop("fast")
        reader.join(timeout=60)
        assert not reader.is_alive(), "the read hung"
        whole = outcome.get("body") == second["conan_sources.tgz"]
        print(f"read across the outage: whole={whole} status={outcome.get('status')} error={outcome.get('error', '')[:120]} received={len(outcome.get('body', b''))}")
        assert whole or "error" in outcome or outcome.get("status") in (502, 503) or \
            len(outcome.get("body", b"")) < len(second["conan_sources.tgz"]), outcome.keys()
        assert main.alive(), main.log()[-3000:]
        postgres.start()
        rawhttp.wait_for(lambda: requests.get(f"{base}/vanish/1.0/_/_/latest", timeout=15).status_code == 200,
                         timeout=30, interval=0.2, message="the server to recover by itself")
        assert requests.get(second_url, timeout=120).content == second["conan_sources.tgz"]
        rawhttp.wait_for(lambda: sorted(p["conan_package_name"] for p in requests.get(packages, timeout=15).json()) == ["outage", "vanish"],
                         timeout=30, interval=0.2, message="the second revision to be committed")
