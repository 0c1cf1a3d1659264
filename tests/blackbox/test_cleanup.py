"""Cleanup policies (issue 20) against the real server process: the real Conan 2 clients see
exactly the revisions a policy keeps, set and run through the HTTP API and through the command
line; a run killed with SIGKILL half-way is resumed by the restarted server, on SQLite and on
PostgreSQL, and removes each revision once; and a run racing uploads and downloads of the same
references fails none of them and never removes a revision uploaded after it started.
"""

import concurrent.futures
import contextlib
import datetime
import random
import re
import threading
import time

import pytest
import requests

from conftest import write_recipe
from pgserver import shared_database
from registry_api import Api, recipe_files, revision_of, stored_blobs
from test_conan2 import REMOTE, create, login, remote_refs, revisions_of
from test_operations import metric
from test_packages_api import pat
from test_races import rows

PROJECT = "demo/packages"


class Cleanup:
    """The cleanup API of one project, called with a personal access token."""

    def __init__(self, server, token, project=1):
        self.url = f"{server.url}/api/v4/projects/{project}/packages/cleanup_policy"
        self.session = requests.Session()
        self.session.headers["PRIVATE-TOKEN"] = token

    @classmethod
    def of_admin(cls, server):
        return cls(server, pat(server, "admin"))

    def call(self, method, path="", status=200, **kwargs):
        response = self.session.request(method, self.url + path, timeout=60, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response.json()

    def policy(self):
        return self.call("GET")

    def set(self, **fields):
        return self.call("PUT", json=fields)

    def dry_run(self, limit=None, **fields):
        params = {"limit": limit} if limit else None
        return self.call("POST", "/dry_run", params=params, json=fields or None)

    def start(self):
        return self.call("POST", "/runs", status=202)

    def run(self, run_id):
        return self.call("GET", f"/runs/{run_id}")

    def runs(self):
        return self.call("GET", "/runs")

    def removals(self, run_id, per_page=100):
        """Every removal of a run, page by page, in order."""
        found, page = [], 1
        while True:
            items = self.call("GET", f"/runs/{run_id}/removals", params={"page": page, "per_page": per_page})
            found += items
            if len(items) < per_page:
                return found
            page += 1

    def wait(self, run_id, timeout=120):
        """The run once it is no longer running."""
        deadline = time.time() + timeout
        while (run := self.run(run_id))["state"] == "running":
            assert time.time() < deadline, f"run {run_id} still running after {timeout}s: {run}"
            time.sleep(0.05)
        return run


def cleanup_metrics(server):
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    return {
        "finished": metric(text, "conan_registry_cleanup_runs_total", result="finished") or 0,
        "failed": metric(text, "conan_registry_cleanup_runs_total", result="failed") or 0,
        "recipe_revisions": metric(text, "conan_registry_cleanup_removed_recipe_revisions_total"),
        "package_revisions": metric(text, "conan_registry_cleanup_removed_package_revisions_total"),
        "bytes": metric(text, "conan_registry_cleanup_removed_bytes_total"),
        "reclaimable": metric(text, "conan_registry_cleanup_reclaimable_bytes_total"),
    }


def assert_no_server_errors(server):
    errors = [line for line in server.log().splitlines() if re.search(r"\bstatus=5\d\d\b", line)]
    assert not errors, errors[:5]


def assert_clean_not_found(result, reference):
    """A failed client command that names what is missing, with no server error behind it."""
    output = result.stdout + result.stderr
    assert reference in output and re.search(r"not found|Unable to find", output), output
    assert not re.search(r"\b50\d\b|Internal Server Error|Traceback", output), output


def instant(text):
    """A time the server answered (RFC 3339, `Z`)."""
    return datetime.datetime.fromisoformat(text)


def verify(server):
    report = server.admin("verify", check=False)
    assert report.returncode == 0 and " 0 problem(s)" in report.stdout, report.stdout + report.stderr


def gc(server):
    """`gc` with no grace period: (blobs deleted, bytes deleted)."""
    report = server.admin("gc", "--grace-secs", "0").stdout
    match = re.search(r"\b(\d+) deleted \((\d+) bytes\)", report)
    assert match, report
    return int(match.group(1)), int(match.group(2))


def fresh_client(make_conan, server):
    client = make_conan()
    login(client, server.project_remote())
    return client


# --- the real client, the HTTP API ----------------------------------------------------------------


def test_keep_recipe_revisions_through_the_api_with_the_real_client(server, conan, make_conan, tmp_path):
    login(conan, server.project_remote())
    for n in range(5):
        recipe = write_recipe(tmp_path / f"hello-{n}", source=f"int answer = {n};\n")
        create(conan, recipe, "arch=x86_64")
        conan.run("upload", "hello/1.0", "-r", REMOTE, "-c")
    revisions = revisions_of(conan, "hello/1.0")
    assert len(revisions) == 5, revisions
    newest, oldest = revisions[:2], revisions[2:]
    # A protected reference with old revisions is left alone whatever the policy says.
    api = Api.login(server)
    for n in range(3):
        api.upload_revision("guarded", recipe_files(f"guarded-{n}"))
    server.admin("protection-rule", "add", "--project", PROJECT, "--pattern", "guard*", "--delete-level", "owner")
    cleanup = Cleanup.of_admin(server)
    assert cleanup.policy()["keep_n_recipe_revisions"] is None

    saved = cleanup.set(keep_n_recipe_revisions=2)
    assert saved["keep_n_recipe_revisions"] == 2 and saved["enabled"] is False and saved["next_run_at"] is None
    assert cleanup.policy() == saved

    # The dry run names exactly the three oldest revisions, each with its binary, and removes
    # nothing; trying another value does not save it.
    dry = cleanup.dry_run()
    assert dry["truncated"] is False
    assert sorted(item["reference"] for item in dry["items"]) == sorted(f"hello/1.0#{rrev}" for rrev in oldest)
    assert {(item["kind"], item["reason"], item["package_revisions"]) for item in dry["items"]} == {
        ("recipe_revision", "keep_n_recipe_revisions", 1)
    }
    totals = dry["totals"]
    assert (totals["recipes_examined"], totals["skipped_protected"]) == (2, 1), totals
    assert (totals["recipe_revisions"], totals["package_revisions"]) == (3, 3), totals
    assert totals["logical_bytes"] == sum(item["logical_bytes"] for item in dry["items"]) > 0
    # The kept revisions share the recipe's conanfile.py and the binaries' conaninfo.txt: those
    # blobs stay referenced, so fewer bytes are reclaimable than are removed.
    assert 0 < totals["stored_bytes"] < totals["logical_bytes"], totals
    assert revisions_of(conan, "hello/1.0") == revisions
    tried = cleanup.dry_run(keep_n_recipe_revisions=4)
    assert [item["reference"] for item in tried["items"]] == [f"hello/1.0#{revisions[-1]}"]
    assert tried["policy"]["keep_n_recipe_revisions"] == 4
    assert len(cleanup.dry_run(include=["HELLO/*"])["items"]) == 3
    assert cleanup.dry_run(exclude=["hello/*"])["items"] == []
    assert cleanup.dry_run(keep_n_recipe_revisions=None, unused_days=1)["items"] == [], "everything is fresh"
    assert cleanup.policy()["keep_n_recipe_revisions"] == 2
    assert cleanup_metrics(server)["recipe_revisions"] == 0

    started = cleanup.start()
    assert (started["state"], started["trigger"], started["project_id"]) == ("running", "api", 1), started
    assert started["policy"]["keep_n_recipe_revisions"] == 2
    run = cleanup.wait(started["id"])
    assert run["state"] == "finished" and run["error"] is None and run["finished_at"], run
    assert run["totals"] == totals, (run["totals"], totals)

    # The client sees the two newest revisions, installs the latest from a clean cache, and gets
    # a clean "not found" for a pinned old one.
    assert revisions_of(conan, "hello/1.0") == newest
    assert len(api.revisions("guarded")) == 3
    consumer = fresh_client(make_conan, server)
    consumer.run("install", "--requires=hello/1.0", "-r", REMOTE, "-s", "arch=x86_64")
    installed = consumer.json("list", "hello/1.0#*")["Local Cache"]["hello/1.0"]["revisions"]
    assert list(installed) == [newest[0]]
    pinned = f"hello/1.0#{oldest[0]}"
    assert_clean_not_found(consumer.fail("install", f"--requires={pinned}", "-r", REMOTE, "-s", "arch=x86_64"), pinned)
    pinned = f"hello/1.0#{oldest[-1]}"
    assert_clean_not_found(consumer.fail("download", pinned, "-r", REMOTE), pinned)
    verify(server)

    # The record: the API, the command line and the metrics agree on what went.
    (listed,) = cleanup.runs()
    assert listed == run
    removed = cleanup.removals(run["id"], per_page=2)
    assert [item["reference"] for item in removed] == [item["reference"] for item in dry["items"]]
    assert all(item["removed_at"] for item in removed)
    assert sum(item["stored_bytes"] for item in removed) == totals["stored_bytes"]
    record = server.admin("cleanup", "runs", PROJECT).stdout
    assert f"run {run['id']} (api, finished)" in record, record
    assert (
        f"removed 3 recipe revisions, 3 package revisions, 0 source backups, {totals['files']} files, {totals['logical_bytes']} bytes "
        f"({totals['stored_bytes']} bytes of blobs left for gc)"
    ) in record, record
    detail = server.admin("cleanup", "runs", PROJECT, str(run["id"])).stdout
    for rrev in oldest:
        assert f"hello/1.0#{rrev} (keep_n_recipe_revisions," in detail, detail
    assert cleanup_metrics(server) == {
        "finished": 1, "failed": 0, "recipe_revisions": 3, "package_revisions": 3,
        "bytes": totals["logical_bytes"], "reclaimable": totals["stored_bytes"],
    }

    # gc reclaims exactly what the run left unreferenced; what is kept still installs.
    blobs = stored_blobs(server)
    deleted, deleted_bytes = gc(server)
    assert deleted_bytes == totals["stored_bytes"], (deleted, deleted_bytes, totals)
    assert len(stored_blobs(server)) == len(blobs) - deleted and deleted > 0
    verify(server)
    again = fresh_client(make_conan, server)
    again.run("install", f"--requires=hello/1.0#{newest[1]}", "-r", REMOTE, "-s", "arch=x86_64")
    assert_no_server_errors(server)


# --- the real client, the command line ------------------------------------------------------------

# Every build packages a new stamp: the same recipe revision gets a new package revision each time.
STAMPED = "import uuid\n        save(self, os.path.join(self.package_folder, 'stamp.txt'), uuid.uuid4().hex)"


def package_revisions(conan, reference):
    """{package id: its package revisions on the remote, newest first} of the latest recipe revision."""
    (rrev, data), = remote_refs(conan, f"{reference}#latest:*#*")[reference]["revisions"].items()
    return rrev, {
        package_id: sorted(package["revisions"], key=lambda prev: package["revisions"][prev]["timestamp"], reverse=True)
        for package_id, package in data["packages"].items()
    }


def test_keep_package_revisions_from_the_command_line_with_the_real_client(server, conan, make_conan, tmp_path):
    login(conan, server.project_remote())
    recipe = write_recipe(tmp_path / "hello", package_extra=STAMPED)
    reference = "hello/1.0@team/stable"
    for _ in range(4):
        create(conan, recipe, "arch=x86_64", user="team", channel="stable")
        conan.run("upload", reference, "-r", REMOTE, "-c")
    create(conan, recipe, "arch=armv8", user="team", channel="stable")
    conan.run("upload", reference, "-r", REMOTE, "-c")
    rrev, binaries = package_revisions(conan, reference)
    assert sorted(len(prevs) for prevs in binaries.values()) == [1, 4], binaries
    x86 = next(package_id for package_id, prevs in binaries.items() if len(prevs) == 4)
    arm = next(package_id for package_id in binaries if package_id != x86)
    kept, old = binaries[x86][:2], binaries[x86][2:]

    # No rule yet: nothing to run.
    refused = server.admin("cleanup", "run", PROJECT, check=False)
    assert refused.returncode != 0 and "has no rule" in refused.stderr, refused.stderr
    shown = server.admin("cleanup", "set", PROJECT, "--keep-package-revisions", "2").stdout
    assert '"keep_n_package_revisions": 2' in shown and '"keep_n_recipe_revisions": null' in shown, shown
    assert "next run: never" in shown

    dry = server.admin("cleanup", "dry-run", PROJECT).stdout
    would = re.findall(r"^would remove (\S+) \((\w+), (\d+) package revisions, (\d+) bytes\)$", dry, re.MULTILINE)
    assert sorted(entry[0] for entry in would) == sorted(f"{reference}#{rrev}:{x86}#{prev}" for prev in old), dry
    assert {entry[1:3] for entry in would} == {("keep_n_package_revisions", "1")}, dry
    assert "removed 0 recipe revisions, 2 package revisions" in dry, dry
    assert package_revisions(conan, reference)[1] == binaries, "a dry run changes nothing"

    ran = server.admin("cleanup", "run", PROJECT).stdout
    removed = re.findall(r"^removed (\S+) \(keep_n_package_revisions, \d+ bytes\)$", ran, re.MULTILINE)
    assert sorted(removed) == sorted(entry[0] for entry in would), ran
    assert re.search(r"^run 1 \(cli, finished\) started \S+ finished \S+$", ran, re.MULTILINE), ran
    assert "recipes examined 1, skipped as protected 0; removed 0 recipe revisions, 2 package revisions" in ran, ran

    # The remote keeps the two newest package revisions of the rebuilt binary, and the other
    # binary's only one.
    assert package_revisions(conan, reference) == (rrev, {x86: kept, arm: binaries[arm]})
    consumer = fresh_client(make_conan, server)
    consumer.run("install", f"--requires={reference}", "-r", REMOTE, "-s", "arch=x86_64")
    local = consumer.json("list", f"{reference}:*#*")["Local Cache"][reference]["revisions"][rrev]["packages"]
    assert list(local[x86]["revisions"]) == [kept[0]], local
    gone = f"{reference}#{rrev}:{x86}#{old[0]}"
    assert_clean_not_found(consumer.fail("download", gone, "-r", REMOTE), gone)

    # The run is on record for the API too, and a second run finds nothing more to remove.
    cleanup = Cleanup.of_admin(server)
    (run,) = cleanup.runs()
    assert (run["trigger"], run["state"], run["totals"]["package_revisions"]) == ("cli", "finished", 2), run
    assert "removed 0 recipe revisions, 0 package revisions" in server.admin("cleanup", "run", PROJECT).stdout
    assert [entry["id"] for entry in cleanup.runs()] == [2, 1]
    verify(server)
    deleted, deleted_bytes = gc(server)
    assert deleted > 0 and deleted_bytes == run["totals"]["stored_bytes"] > 0
    verify(server)
    assert_no_server_errors(server)


# --- many references over HTTP: a killed run, a run racing clients ---------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def start_server(request, make_server):
    """Starts servers (`start_server(env, data_dir=None)`) on SQLite, or on one fresh PostgreSQL
    database shared by the test's servers; each server's `backend` names which (for `rows`)."""
    with contextlib.ExitStack() as stack:
        database = {}
        if request.param == "postgres":
            database["CONAN_REGISTRY__DATABASE__URL"] = stack.enter_context(shared_database())
        started = []

        def start(env=None, data_dir=None):
            server = make_server({**database, **(env or {})}, data_dir=data_dir)
            server.backend = request.param
            started.append(server)
            return server

        yield start
        for server in started:  # before the database goes
            server.stop()


def seed(api, references, revisions, workers=6):
    """Uploads `revisions` recipe revisions of each reference in `references`, oldest first,
    from parallel clients; returns ({reference: its revisions, oldest first}, {rrev: files})."""
    history, files = {}, {}

    def upload(name):
        client = Api(api.server, api.token)
        history[name] = []
        for n in range(revisions):
            content = recipe_files(f"{name}-{n}")
            history[name].append(client.upload_revision(name, content))
            files[history[name][-1]] = content

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(upload, references))
    return history, files


def assert_served(api, name, revisions, files):
    """The reference lists exactly `revisions` (newest first), and every listed file downloads
    with the bytes it was uploaded with."""
    assert api.revisions(name) == revisions, (name, revisions)
    for rrev in revisions:
        assert api.files(name, rrev) == sorted(files[rrev]), (name, rrev)
        for path, data in files[rrev].items():
            response = api.download(name, rrev, path)
            assert response.status_code == 200 and response.content == data, (name, rrev, path, response.status_code)


KILLED_REFERENCES = 150


def test_a_run_killed_half_way_is_resumed_after_a_restart(start_server):
    # Short leases and a scheduler that looks every second: the restarted node resumes the run
    # about two seconds after its last renewal; one recipe per batch makes the run long.
    env = {
        "CONAN_REGISTRY__CLEANUP__BATCH_RECIPES": "1",
        "CONAN_REGISTRY__CLEANUP__LEASE_SECS": "2",
        "CONAN_REGISTRY__CLEANUP__POLL_INTERVAL_SECS": "1",
    }
    server = start_server(env)
    api = Api.login(server)
    names = [f"lib{index:03d}" for index in range(KILLED_REFERENCES)]
    history, files = seed(api, names, 3)
    total = 2 * len(names)
    cleanup = Cleanup.of_admin(server)
    cleanup.set(keep_n_recipe_revisions=1)
    assert cleanup.dry_run()["totals"]["recipe_revisions"] == total

    # Killed once a tenth of the removals are done: several batches recorded, most still to do.
    run_id = cleanup.start()["id"]
    while (run := cleanup.run(run_id))["totals"]["recipe_revisions"] < total // 10:
        assert run["state"] == "running", f"the run ended before the kill: seed more references ({run})"
    server.kill()

    # Dead mid-run: the run is recorded as running, some of its removals are done and recorded.
    (state,) = rows(server, f"SELECT state FROM cleanup_runs WHERE id = {run_id}")
    (done,) = rows(server, f"SELECT count(*) FROM cleanup_removals WHERE run_id = {run_id}")
    assert state == ("running",) and total // 10 <= int(done[0]) < total, (state, done, total)

    restarted = start_server(env, data_dir=server.data_dir)
    cleanup = Cleanup.of_admin(restarted)
    run = cleanup.wait(run_id, timeout=60)
    assert run["state"] == "finished" and run["error"] is None, run
    resumed = cleanup_metrics(restarted)
    assert (resumed["finished"], resumed["failed"]) == (1, 0), resumed
    assert resumed["recipe_revisions"] == total - int(done[0]), (resumed, done)
    assert run["trigger"] == "api" and run["id"] == run_id
    assert re.search(rf"cleanup run started run={run_id} project=1 trigger=\"?api", restarted.log()), restarted.log()[-3000:]
    # Each revision was removed once: the totals and the record count every removal once.
    totals = run["totals"]
    assert (totals["recipes_examined"], totals["recipe_revisions"]) == (len(names), total), totals
    removed = [item["reference"] for item in cleanup.removals(run_id)]
    assert sorted(removed) == sorted(f"{name}/1.0#{rrev}" for name in names for rrev in history[name][:-1])

    # Every reference keeps exactly its newest revision, whole; nothing listed lacks a file.
    api = Api.login(restarted)
    for name in names:
        assert_served(api, name, history[name][-1:], files)
    verify(restarted)
    deleted, deleted_bytes = gc(restarted)
    assert deleted == 3 * total and deleted_bytes == totals["stored_bytes"], (deleted, deleted_bytes, totals)
    verify(restarted)
    for name in random.Random(1).sample(names, 10):
        assert_served(api, name, history[name][-1:], files)
    for node in (server, restarted):
        assert_no_server_errors(node)


RACED_REFERENCES = 200


def test_a_run_racing_uploads_and_downloads_of_the_same_references(start_server):
    server = start_server({"CONAN_REGISTRY__CLEANUP__BATCH_RECIPES": "1"})
    api = Api.login(server)
    names = [f"lib{index:03d}" for index in range(RACED_REFERENCES)]
    history, files = seed(api, names, 3)
    cleanup = Cleanup.of_admin(server)
    cleanup.set(keep_n_recipe_revisions=2)

    run_id = cleanup.start()["id"]
    refused = cleanup.session.post(f"{cleanup.url}/runs", timeout=60)
    assert refused.status_code == 409 and "already running" in refused.text, refused.text
    statuses = []  # (what, reference, status)
    uploaded = {}  # reference -> its new revision
    run_over = threading.Event()
    uploads_over = threading.Event()

    def watch():
        try:
            cleanup.wait(run_id)
        finally:
            run_over.set()

    def upload(part):
        # One new revision per reference, from the last reference down while the run walks up:
        # some land before the run plans their recipe, some after.
        client = Api(server, api.token)
        for name in reversed(part):
            content = recipe_files(f"{name}-new")
            rrev = revision_of(content)
            files[rrev] = content
            results = []
            uploaded[name] = client.upload_revision(name, content, statuses=results)
            statuses.extend(("PUT", name, status) for _, _, status, _ in results)

    def download(seed_value):
        # The latest revision and its files, whole: at most one revision is uploaded after it,
        # so with two kept it is never removed under the reader.
        client = Api(server, api.token)
        rng = random.Random(seed_value)
        deadline = time.monotonic() + 240
        while not (uploads_over.is_set() and run_over.is_set()) and time.monotonic() < deadline:
            name = rng.choice(names)
            latest = client.get(f"{client.recipe_url(name)}/latest")
            statuses.append(("latest", name, latest.status_code))
            if latest.status_code != 200:
                continue
            rrev = latest.json()["revision"]
            for path, data in files[rrev].items():
                response = client.download(name, rrev, path)
                statuses.append((path, name, response.status_code))
                if response.status_code == 200:
                    assert response.content == data, (name, rrev, path)

    def uploads():
        try:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(upload, [names[part::4] for part in range(4)]))
        finally:
            uploads_over.set()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(watch), pool.submit(uploads), pool.submit(download, 1), pool.submit(download, 2)]
        for job in jobs:
            job.result(timeout=300)

    failures = [entry for entry in statuses if entry[2] != 200]
    assert not failures, failures[:10]
    run = cleanup.run(run_id)
    assert run["state"] == "finished" and run["error"] is None, run
    assert len(uploaded) == len(names)

    # The new revision is the latest of each reference and nothing the run removed was uploaded
    # after it started; the previous latest stays, the oldest went either way.
    removed = {item["reference"] for item in cleanup.removals(run_id)}
    served = set(random.Random(3).sample(names, 25))
    during = 0  # new revisions committed while the run ran (the server's clock)
    for name in names:
        new, (oldest, _, previous) = uploaded[name], history[name]
        assert f"{name}/1.0#{new}" not in removed
        listing = api.get(f"{api.recipe_url(name)}/revisions").json()["revisions"]
        left = [entry["revision"] for entry in listing]
        assert left[0] == new and previous in left and oldest not in left, (name, left, history[name], new)
        during += instant(run["started_at"]) < instant(listing[0]["time"]) < instant(run["finished_at"])
        if name in served:
            assert_served(api, name, left, files)
    assert during > 0, "every upload came after the run: seed more references"
    assert len(removed) == run["totals"]["recipe_revisions"] >= len(names)
    assert removed <= {f"{name}/1.0#{rrev}" for name in names for rrev in history[name][:2]}
    verify(server)
    assert_no_server_errors(server)
    print(f"{during} of {len(names)} uploads committed while the run ran; it removed {len(removed)} revisions")
