"""Races against the real server process, on SQLite and on PostgreSQL: real parallel HTTP
clients (threads) uploading the same revision, different revisions of one recipe, uploads racing
deletes and downloads racing deletes. Every status is collected: none may be a 5xx. Afterwards
each revision is listed once, every listed file downloads with the checksums it was uploaded
with, no row is duplicated and `conan-registry verify` passes.
"""

import concurrent.futures
import hashlib
import random
import re
import subprocess
import threading
import time

import pytest
import requests

from pgserver import shared_database
from registry_api import Api, digests, manifest_for, recipe_files, revision_of, sqlite_rows

THREADS = 8


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, make_server):
    if request.param == "sqlite":
        server = make_server()
        server.backend = "sqlite"
        yield server
        return
    with shared_database() as url:
        server = make_server({"CONAN_REGISTRY__DATABASE__URL": url})
        server.backend = "postgres"
        yield server
        server.stop()


def rows(server, query):
    if server.backend == "sqlite":
        return [tuple(row) for row in sqlite_rows(server, query)]
    result = subprocess.run(
        ["psql", server.env["CONAN_REGISTRY__DATABASE__URL"], "-qAtF", "\t", "-c", query],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return [tuple(line.split("\t")) for line in result.stdout.splitlines() if line]


def run_all(jobs, workers=THREADS):
    """Runs the callables at once on real threads; returns their results, re-raising failures."""
    barrier = threading.Barrier(len(jobs))

    def started(job):
        barrier.wait(timeout=30)
        return job()

    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(started, job) for job in jobs]
        return [future.result(timeout=300) for future in futures]


def assert_no_server_errors(statuses):
    failures = [entry for entry in statuses if entry[2] >= 500]
    assert not failures, failures[:10]


def assert_consistent(server, api, name, expected):
    """One entry per revision, no duplicated rows, every listed file downloads with the
    digests of what was uploaded (`expected`: {rrev: {path: bytes}}), and verify passes."""
    revisions = api.revisions(name) or []
    assert len(revisions) == len(set(revisions)), revisions
    for rrev in revisions:
        assert rrev in expected, rrev
        listed = api.files(name, rrev)
        assert listed and set(listed) <= set(expected[rrev]), (rrev, listed)
        assert "conanmanifest.txt" in listed
        for path in listed:
            response = api.download(name, rrev, path)
            assert response.status_code == 200, (rrev, path, response.status_code)
            assert digests(response.content) == digests(expected[rrev][path]), (rrev, path)
    assert rows(server, "SELECT recipe_id, revision, count(*) FROM recipe_revisions GROUP BY recipe_id, revision HAVING count(*) > 1") == []
    assert rows(server, "SELECT recipe_revision_id, package_revision_id, path, count(*) FROM files "
                        "GROUP BY recipe_revision_id, package_revision_id, path HAVING count(*) > 1") == []
    assert rows(server, "SELECT project_id, name, version, user_name, channel, count(*) FROM recipes "
                        "GROUP BY project_id, name, version, user_name, channel HAVING count(*) > 1") == []
    # Every file row's blob is indexed (the blob files themselves are re-hashed by verify).
    assert rows(server, "SELECT f.sha256 FROM files f LEFT JOIN blobs b ON b.sha256 = f.sha256 WHERE b.sha256 IS NULL") == []
    verify = server.admin("verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return revisions


def test_many_uploads_of_the_same_revision(backend):
    api = Api.login(backend)
    files = recipe_files("same", size=256 * 1024)
    statuses = []
    rrevs = run_all([lambda: Api(backend, api.token).upload_revision("same", files, statuses=statuses) for _ in range(THREADS)])
    assert set(rrevs) == {revision_of(files)}
    assert_no_server_errors(statuses)
    assert {entry[2] for entry in statuses} == {200}, statuses
    revisions = assert_consistent(backend, api, "same", {revision_of(files): files})
    assert revisions == [revision_of(files)]
    assert api.files("same", revisions[0]) == sorted(files)


def test_different_revisions_of_one_recipe(backend):
    api = Api.login(backend)
    per_thread = 3
    expected = {}
    statuses = []

    def uploader(thread):
        client = Api(backend, api.token)
        for n in range(per_thread):
            files = recipe_files(f"rev-{thread}-{n}")
            expected[client.upload_revision("many", files, statuses=statuses)] = files

    run_all([lambda thread=thread: uploader(thread) for thread in range(THREADS)])
    assert_no_server_errors(statuses)
    assert {entry[2] for entry in statuses} == {200}, statuses
    revisions = assert_consistent(backend, api, "many", expected)
    assert set(revisions) == set(expected) and len(revisions) == THREADS * per_thread
    latest = api.get(f"{api.recipe_url('many')}/latest").json()["revision"]
    assert latest == revisions[0]


def test_uploads_racing_deletes(backend):
    api = Api.login(backend)
    expected = {}
    started = []  # revisions whose upload began, for the deleters to aim at
    statuses = []
    done = threading.Event()
    recipe = api.recipe_url("racy")

    def uploader(thread):
        client = Api(backend, api.token)
        for n in range(4):
            files = recipe_files(f"racy-{thread}-{n}")
            expected[revision_of(files)] = files
            started.append(revision_of(files))
            client.upload_revision("racy", files, statuses=statuses)

    def deleter(seed):
        client = Api(backend, api.token)
        rng = random.Random(seed)
        while not done.is_set():
            known = started[:]
            if known and rng.random() < 0.8:
                url = f"{recipe}/revisions/{rng.choice(known)}"
            else:
                url = recipe
            response = client.delete(url)
            statuses.append(("DELETE", url, response.status_code, response.text[:200]))
            time.sleep(rng.random() * 0.02)

    def uploaders():
        try:
            run_all([lambda thread=thread: uploader(thread) for thread in range(THREADS - 2)], THREADS - 2)
        finally:
            done.set()

    run_all([uploaders, lambda: deleter(1), lambda: deleter(2)])
    assert_no_server_errors(statuses)
    assert {entry[2] for entry in statuses if entry[0] == "PUT"} <= {200}, statuses
    assert {entry[2] for entry in statuses if entry[0] == "DELETE"} <= {200, 204, 404}, statuses
    assert any(entry[0] == "DELETE" and entry[2] in (200, 204) for entry in statuses), "no delete hit anything"
    assert_consistent(backend, api, "racy", expected)
    # What is left can still be uploaded to and deleted cleanly.
    assert api.delete(recipe).status_code in (200, 204, 404)
    assert api.revisions("racy") is None


def test_downloads_racing_deletes(backend):
    api = Api.login(backend)
    expected = {}
    for n in range(6):
        files = recipe_files(f"download-{n}")
        files["conan_sources.tgz"] = hashlib.sha256(str(n).encode()).digest() * (32 * 1024)  # 1 MiB
        files["conanmanifest.txt"] = manifest_for({k: v for k, v in files.items() if k != "conanmanifest.txt"})
        expected[api.upload_revision("dl", files)] = files
    statuses = []
    done = threading.Event()
    order = list(expected)

    def downloader(seed):
        client = Api(backend, api.token)
        rng = random.Random(seed)
        while not done.is_set():
            rrev = rng.choice(order)
            path = rng.choice(["conan_sources.tgz", "conanfile.py", "conanmanifest.txt"])
            response = client.download("dl", rrev, path)
            statuses.append(("GET", path, response.status_code, ""))
            if response.status_code == 200:
                # A download that started is never cut short or mixed up.
                assert response.content == expected[rrev][path], (rrev, path, len(response.content))

    def deleter():
        client = Api(backend, api.token)
        try:
            for rrev in order[:4]:
                time.sleep(0.15)
                response = client.delete(f"{client.recipe_url('dl')}/revisions/{rrev}")
                statuses.append(("DELETE", rrev, response.status_code, response.text[:200]))
            time.sleep(0.15)
        finally:
            done.set()

    run_all([deleter] + [lambda seed=seed: downloader(seed) for seed in range(THREADS - 1)])
    assert_no_server_errors(statuses)
    assert {entry[2] for entry in statuses if entry[0] == "GET"} <= {200, 404}, statuses
    deletes = [entry[2] for entry in statuses if entry[0] == "DELETE"]
    assert len(deletes) == 4 and set(deletes) <= {200, 204}, statuses
    revisions = assert_consistent(backend, api, "dl", expected)
    assert set(revisions) == set(order[4:])
    # Collecting garbage now removes the deleted revisions' blobs and keeps every listed file.
    backend.admin("gc", "--grace-secs", "0")
    assert_consistent(backend, api, "dl", expected)


def test_conan1_uploads_to_revision_zero_racing_readers(backend):
    """Conan 1 uploads of different content to the mutable revision `0` (each through its own
    `upload_urls` answer, files in the client's sorted order, the manifest last) race each other
    and readers: every snapshot a reader gets is exactly one uploaded set, never a mix of two and
    never missing a file; the end state is one whole set and `verify` passes."""
    api = Api.login(backend)
    v1 = f"{api.base}/v1/conans/zero/1.0/_/_"
    sets = []
    for n in range(THREADS * 2):
        files = {"conanfile.py": f"# recipe {n}\n".encode()}
        if n % 2:  # every other set has exported sources, so files also disappear
            files["conan_sources.tgz"] = b"\x1f\x8b sources " + str(n).encode() * 1000
        files["conanmanifest.txt"] = manifest_for(files)
        sets.append(files)
    snapshots_of_sets = [{path: hashlib.md5(data).hexdigest() for path, data in files.items()} for files in sets]
    statuses, seen = [], []
    done = threading.Event()

    def uploader(thread):
        client = Api(backend, api.token)
        for files in sets[thread::4]:
            body = {path: len(data) for path, data in files.items()}
            response = client.session.post(f"{v1}/upload_urls", json=body, headers=client.headers(), timeout=60)
            statuses.append(("POST", "upload_urls", response.status_code, response.text[:200]))
            urls = response.json()
            for path in sorted(urls):
                response = client.put(urls[path], files[path])
                statuses.append(("PUT", path, response.status_code, response.text[:200]))

    def reader():
        client = Api(backend, api.token)
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            response = client.get(v1)
            statuses.append(("GET", "snapshot", response.status_code, response.text[:200]))
            if response.status_code == 200 and response.json():
                seen.append(response.json())

    def uploaders():
        try:
            run_all([lambda thread=thread: uploader(thread) for thread in range(4)], workers=4)
        finally:
            done.set()

    run_all([uploaders] + [reader for _ in range(4)], workers=5)
    assert_no_server_errors(statuses)
    assert {entry[2] for entry in statuses} == {200}, [entry for entry in statuses if entry[2] != 200][:5]
    assert seen, "the readers saw committed sets"
    mixed = [snapshot for snapshot in seen if snapshot not in snapshots_of_sets]
    assert not mixed, mixed[:3]
    final = api.get(v1).json()
    assert final in snapshots_of_sets
    # One revision `0`, its files exactly the final set, each downloading with its bytes.
    assert api.revisions("zero") == ["0"]  # one revision, re-committed by each upload
    files_of_final = sets[snapshots_of_sets.index(final)]
    download_urls = api.get(f"{v1}/download_urls").json()
    assert sorted(download_urls) == sorted(files_of_final)
    for path, url in download_urls.items():
        assert api.get(url).content == files_of_final[path], path
    assert rows(backend, "SELECT count(*) FROM recipe_revisions") in ([(1,)], [("1",)])
    verify = backend.admin("verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_packages_api_deletes_racing_uploads_and_listings(backend):
    """GitLab's Packages API deleting files and whole packages by id while revisions are uploaded
    and the package and its files are listed: no 5xx, every answer a page or a 404, and the
    state the Conan API shows afterwards consistent."""
    api = Api.login(backend)
    created = backend.admin("token", "create", "admin", "--scope", "api").stdout
    pat = next(word for word in created.split() if word.startswith("crpat-"))
    rest = f"{backend.url}/api/v4/projects/1/packages"
    headers = {"PRIVATE-TOKEN": pat}
    expected = {}
    statuses = []
    done = threading.Event()

    def uploader(thread):
        client = Api(backend, api.token)
        for n in range(4):
            files = recipe_files(f"rest-{thread}-{n}")
            expected[revision_of(files)] = files
            client.upload_revision("rest", files, statuses=statuses)

    def rest_client(seed):
        rng = random.Random(seed)
        session = requests.Session()
        while not done.is_set():
            listing = session.get(rest, params={"package_name": "rest"}, headers=headers, timeout=60)
            statuses.append(("LIST", "", listing.status_code, listing.text[:200]))
            # Project statistics read one snapshot while revisions commit and go.
            stats = session.get(rest.rsplit("/", 1)[0], params={"statistics": "true"}, headers=headers, timeout=60)
            statuses.append(("LIST", "", stats.status_code, stats.text[:200]))
            if stats.status_code == 200:
                numbers = stats.json()["statistics"]
                assert numbers["conan_stored_size"] <= numbers["packages_size"], numbers
                # Other files may be deleted alone; a revision never outlives its manifest.
                assert numbers["conan_files_count"] >= numbers["conan_recipe_revisions_count"], numbers
            for package in listing.json() if listing.status_code == 200 else []:
                files = session.get(f"{rest}/{package['id']}/package_files", params={"per_page": 100},
                                    headers=headers, timeout=60)
                statuses.append(("FILES", "", files.status_code, files.text[:200]))
                if files.status_code != 200 or not files.json():
                    continue
                if rng.random() < 0.1:
                    url = f"{rest}/{package['id']}"
                else:
                    url = f"{rest}/{package['id']}/package_files/{rng.choice(files.json())['id']}"
                response = session.delete(url, headers=headers, timeout=60)
                statuses.append(("DELETE", url, response.status_code, response.text[:200]))
            time.sleep(rng.random() * 0.02)

    def uploaders():
        try:
            run_all([lambda thread=thread: uploader(thread) for thread in range(THREADS - 2)], THREADS - 2)
        finally:
            done.set()

    run_all([uploaders, lambda: rest_client(1), lambda: rest_client(2)])
    assert_no_server_errors(statuses)
    assert {entry[2] for entry in statuses if entry[0] in ("LIST", "FILES")} <= {200, 404}, statuses
    assert {entry[2] for entry in statuses if entry[0] == "DELETE"} <= {204, 404}, statuses
    assert any(entry[0] == "DELETE" and entry[2] == 204 for entry in statuses), "no delete hit anything"
    # A revision may have lost a file other than its manifest (as in GitLab); what is listed
    # downloads whole, and no row is duplicated or orphaned.
    assert_consistent(backend, api, "rest", expected)


def web_session(server):
    """The administrator signed in through the web form: a requests session and the CSRF token
    of its forms."""
    session = requests.Session()
    sign_in = f"{server.url}/-/web/sign-in"
    pattern = r'name="csrf_token" value="([0-9a-f]{32})"'
    token = re.search(pattern, session.get(sign_in, timeout=60).text).group(1)
    home = session.post(sign_in, data={"csrf_token": token, "username": "admin",
                                       "password": "admin-password-1"}, timeout=60)
    assert home.status_code == 200 and ">admin<" in home.text, home.text[:500]
    return session, re.search(pattern, home.text).group(1)


def test_web_deletes_racing_each_other_and_downloads(backend):
    """Several signed-in browsers confirm the deletes of the same revisions at once from the web
    pages while clients download them: each revision is deleted exactly once (a 303, every
    other attempt the 404 page), no 5xx, no download cut short, and the store stays
    consistent."""
    api = Api.login(backend)
    expected = {}
    for n in range(6):
        files = recipe_files(f"web-{n}")
        expected[api.upload_revision("webrace", files)] = files
    order = list(expected)
    recipe_page = f"{backend.url}/-/web/projects/demo/packages/-/recipes/webrace/1.0/_/_"
    statuses = []
    done = threading.Event()

    def deleter():
        session, token = web_session(backend)
        for rrev in order[:4]:
            response = session.post(f"{recipe_page}/revisions/{rrev}/delete", data={"csrf_token": token},
                                    allow_redirects=False, timeout=60)
            statuses.append(("DELETE", rrev, response.status_code, response.text[:200]))

    def downloader(seed):
        client = Api(backend, api.token)
        rng = random.Random(seed)
        while not done.is_set():
            rrev = rng.choice(order)
            response = client.download("webrace", rrev, "conanfile.py")
            statuses.append(("GET", rrev, response.status_code, ""))
            if response.status_code == 200:
                assert response.content == expected[rrev]["conanfile.py"], rrev

    def deleters():
        try:
            run_all([deleter for _ in range(3)], 3)
        finally:
            done.set()

    run_all([deleters] + [lambda seed=seed: downloader(seed) for seed in range(THREADS - 4)])
    assert_no_server_errors(statuses)
    assert {entry[2] for entry in statuses if entry[0] == "GET"} <= {200, 404}, statuses
    for rrev in order[:4]:
        answers = sorted(entry[2] for entry in statuses if entry[0] == "DELETE" and entry[1] == rrev)
        assert answers == [303, 404, 404], (rrev, answers)
    revisions = assert_consistent(backend, api, "webrace", expected)
    assert set(revisions) == set(order[4:])
