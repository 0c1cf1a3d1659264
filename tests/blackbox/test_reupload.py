"""Re-uploads as real builders make them (issue 22, parts 1-3), with the real clients.

1. Conan 1.66 in its default mode (no revisions: everything is recipe revision `0`) uploads a
   changed recipe and package over the old ones: the upload succeeds, consumers get exactly the
   new files (a file the recipe stopped exporting or packaging is gone), `verify` is clean.
2. Conan 2.34 builders that computed the same revisions upload them again (`--force`), one after
   the other and several at once, on SQLite and on PostgreSQL: every upload succeeds and the
   server keeps the first bytes. A manifest that lists other files, or another conanfile.py, for
   a committed revision stays a 409 and changes nothing. Several Conan 1 builders racing on
   revision `0` all succeed as well.
3. A recipe uploaded only by Conan 2 gets binaries from a Conan 1 client that skips the recipe.

Every client runs with upload retries off, so a refused PUT fails the command at once instead of
being retried after five seconds (and a race cannot be hidden by a retry), and every command has
a timeout. Builders of one test are copies of one set-up home (the set-up is most of the time).
"""

import concurrent.futures
import hashlib
import json
import pathlib
import re
import shutil
import subprocess
import time

import pytest

from conftest import ADMIN_PASSWORD, Conan, files_under
from registry_api import Api, STATE_QUERIES, sqlite_rows
from test_conan1 import Conan1
from test_races import backend, rows  # noqa: F401 (backend is a fixture: SQLite and PostgreSQL)

REMOTE = "registry"
REFERENCE = "pkg/0.1@demo/stable"
CONAN2 = "2.34.0"
TIMEOUT = 120  # seconds, for any one client command
BUILDERS = 4


# --- clients with bounded commands and no upload retries ----------------------------------------

def _run(executable, args, env, cwd, check, timeout):
    workdir = pathlib.Path(cwd)
    workdir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(executable), *args], capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"conan {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def _popen(executable, args, env, cwd):
    workdir = pathlib.Path(cwd)
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(executable), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=workdir
    )


class Conan2(Conan):
    """A Conan 2.34 home logged in to `remote_url`."""

    def __init__(self, home, remote_url=None):
        super().__init__(CONAN2, home)
        (self.home / "global.conf").write_text(
            "core:non_interactive=True\ncore.upload:retry=0\ncore.download:retry=0\n"
        )
        if remote_url:
            self.run("remote", "add", REMOTE, remote_url)
            self.run("remote", "login", REMOTE, "admin", "-p", ADMIN_PASSWORD)

    def run(self, *args, check=True, env=None, cwd=None, timeout=TIMEOUT):
        full_env = dict(self.env)
        full_env.update(env or {})
        return _run(self.executable, args, full_env, cwd or self.home / "work", check, timeout)

    def popen(self, *args):
        return _popen(self.executable, args, self.env, self.home / "work")


class Builder1(Conan1):
    """A Conan 1.66 home without revisions (its default), logged in to `remote_url`."""

    def __init__(self, home, remote_url=None):
        super().__init__(home, revisions=False)
        if remote_url:
            self.run("remote", "add", REMOTE, remote_url)
            self.run("user", "admin", "-p", ADMIN_PASSWORD, "-r", REMOTE)

    def full_env(self):
        return dict(self.env, CONAN_RETRY="0", CONAN_RETRY_WAIT="0")

    def run(self, *args, check=True, cwd=None, timeout=TIMEOUT):
        return _run(self.executable, args, self.full_env(), cwd or self.home / "work", check, timeout)

    def popen(self, *args, env=None):
        return _popen(self.executable, args, dict(self.full_env(), **(env or {})), self.home / "work")

    def add_barrier_hook(self):
        """Installs BARRIER_HOOK (enabled per command by `barrier_env`)."""
        hooks = self.home / ".conan" / "hooks"
        hooks.mkdir(parents=True, exist_ok=True)
        (hooks / "upload_barrier.py").write_text(BARRIER_HOOK)

    def layout(self, reference=REFERENCE):
        return self.home / ".conan" / "data" / reference.replace("@", "/")

    def metadata(self, reference=REFERENCE):
        return json.loads((self.layout(reference) / "metadata.json").read_text())


def clone(client, home, home_variable):
    """Another client like `client` (same configuration, remote and login, empty cache) in
    `home`: a copy of its home, which costs nothing next to the client commands that set one
    up. Only for clients whose cache is still empty."""
    shutil.copytree(client.home, home, ignore=shutil.ignore_patterns("work"))
    copy = type(client).__new__(type(client))
    copy.__dict__.update(client.__dict__)
    copy.home = pathlib.Path(home)
    copy.env = dict(client.env, **{home_variable: str(copy.home)})
    return copy


def clients(make, tmp_path, names):
    """One client per name (each its own home under `tmp_path`): the first set up by `make(home)`,
    the others cloned from it."""
    first = make(tmp_path / names[0])
    variable = "CONAN_HOME" if isinstance(first, Conan2) else "CONAN_USER_HOME"
    return [first] + [clone(first, tmp_path / name, variable) for name in names[1:]]


def at_once(*makers):
    """Runs the callables (client set-ups: several client commands each) at the same time and
    returns their results in order."""
    with concurrent.futures.ThreadPoolExecutor(len(makers)) as pool:
        futures = [pool.submit(make) for make in makers]
        return [future.result(timeout=TIMEOUT * 2) for future in futures]


# A Conan 1 hook that holds each `conan upload` before it looks at the remote until every builder
# has got there: then all of them find the remote empty and all send the recipe, at once. Conan 2
# has no upload hooks; its racers rely on `--force` (each sends everything whatever it finds).
BARRIER_HOOK = '''
import os
import time


def pre_upload_recipe(output, conanfile_path, reference, remote, **kwargs):
    directory = os.environ["UPLOAD_BARRIER_DIR"]
    count = int(os.environ["UPLOAD_BARRIER_COUNT"])
    open(os.path.join(directory, str(os.getpid())), "w").close()
    deadline = time.time() + 60
    while len(os.listdir(directory)) < count:
        if time.time() > deadline:
            raise Exception("upload barrier: the other builders never came")
        time.sleep(0.01)
'''


def barrier_env(directory, count):
    pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
    return {"CONAN_HOOKS": "upload_barrier", "UPLOAD_BARRIER_DIR": str(directory), "UPLOAD_BARRIER_COUNT": str(count)}


def finish(processes):
    """Waits for every process (bounded) and returns [(returncode, stdout, stderr)]."""
    results = []
    deadline = time.time() + TIMEOUT
    for process in processes:
        try:
            out, err = process.communicate(timeout=max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            for other in processes:
                if other.poll() is None:
                    other.kill()
                    other.wait()
            raise
        results.append((process.returncode, out, err))
    return results


# --- helpers ---------------------------------------------------------------------------------------

def sha256(data):
    return hashlib.sha256(data).hexdigest()


def md5(data):
    return hashlib.md5(data).hexdigest()


def v1_url(server, *parts):
    return "/".join([server.project_remote(), "v1", "conans", "pkg", "0.1", "demo", "stable", *parts])


def v2_recipe_url(server):
    return f"{server.project_remote()}/v2/conans/pkg/0.1/demo/stable"


def v1_snapshot(api, server, *parts):
    response = api.get(v1_url(server, *parts))
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def v2_revisions(api, url):
    response = api.get(f"{url}/revisions")
    assert response.status_code == 200, (url, response.status_code, response.text)
    return [entry["revision"] for entry in response.json()["revisions"]]


def assert_verify_clean(server):
    result = server.admin("verify", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 problem(s)" in result.stdout, result.stdout + result.stderr


def assert_no_duplicate_rows(server):
    assert rows(server, "SELECT recipe_id, revision, count(*) FROM recipe_revisions "
                        "GROUP BY recipe_id, revision HAVING count(*) > 1") == []
    assert rows(server, "SELECT recipe_revision_id, package_revision_id, path, count(*) FROM files "
                        "GROUP BY recipe_revision_id, package_revision_id, path HAVING count(*) > 1") == []
    assert rows(server, "SELECT project_id, name, version, user_name, channel, count(*) FROM recipes "
                        "GROUP BY project_id, name, version, user_name, channel HAVING count(*) > 1") == []
    assert rows(server, "SELECT f.sha256 FROM files f LEFT JOIN blobs b ON b.sha256 = f.sha256 "
                        "WHERE b.sha256 IS NULL") == []


def manifest_sums(text):
    """A conanmanifest.txt without its timestamp line: {path: md5}."""
    lines = text.splitlines()[1:]
    return dict(line.rsplit(": ", 1) for line in lines if line.strip())


# --- 1. Conan 1 without revisions overwrites revision 0 ------------------------------------------

RECIPE1 = '''
import os
from conan import ConanFile
from conan.tools.files import copy, save


class Pkg(ConanFile):
    name = "pkg"
    version = "0.1"
    settings = "os", "arch"
    description = "{description}"
{exports_sources}
    def package(self):
{package}
'''

COPY_SOURCES = (
    '        copy(self, "*.txt", os.path.join(self.source_folder, "src"),'
    ' os.path.join(self.package_folder, "data"))\n'
)
OLD_KEEP = "keep: first upload\n"
OLD_GONE = "gone: only in the first upload\n"
NEW_KEEP = "keep: second upload, other bytes\n"


def write_recipe1(directory, description, sources, exports_sources=True, package=COPY_SOURCES):
    """A recipe exporting src/*.txt (`sources`: {name: text}) and packaging them under data/."""
    directory = pathlib.Path(directory)
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "src").mkdir(parents=True, exist_ok=True)
    for name, text in sources.items():
        (directory / "src" / name).write_text(text)
    (directory / "conanfile.py").write_text(RECIPE1.format(
        description=description,
        exports_sources='    exports_sources = "src/*"\n' if exports_sources else "",
        package=package,
    ))
    return directory


def consumer_files1(consumer, package_id):
    """What a consumer has of pkg: recipe export, export sources and the package's data files."""
    layout = consumer.layout()
    return {
        "export": files_under(layout / "export"),
        "export_source": files_under(layout / "export_source") if (layout / "export_source").exists() else {},
        "package": files_under(consumer.package_folder(REFERENCE, package_id)),
    }


@pytest.mark.parametrize("change", ["changed_sources", "dropped_exports_sources"])
def test_conan1_reupload_replaces_revision_0(server, tmp_path, change):
    url = server.project_remote()
    builder, consumer = clients(lambda home: Builder1(home, url), tmp_path, ["builder", "consumer"])
    recipe = tmp_path / "recipe"
    write_recipe1(recipe, "first", {"keep.txt": OLD_KEEP, "gone.txt": OLD_GONE})
    builder.run("create", str(recipe), "demo/stable")
    builder.run("upload", REFERENCE, "--all", "-r", REMOTE, "-c")
    api = Api.login(server)
    first_snapshot = v1_snapshot(api, server)
    assert "conan_sources.tgz" in first_snapshot, first_snapshot
    (package_id,) = builder.metadata()["packages"]

    if change == "changed_sources":
        # Another conanfile.py, another exported source, one packaged file less.
        write_recipe1(recipe, "second", {"keep.txt": NEW_KEEP})
    else:
        # No exports_sources at all: conan_sources.tgz is no longer part of the recipe.
        package = (
            f'        save(self, os.path.join(self.package_folder, "data", "keep.txt"), {NEW_KEEP!r})\n'
        )
        write_recipe1(recipe, "second", {}, exports_sources=False, package=package)
    builder.run("create", str(recipe), "demo/stable")
    assert builder.metadata()["packages"].keys() == {package_id}
    second = builder.run("upload", REFERENCE, "--all", "-r", REMOTE, "-c", check=False)
    assert second.returncode == 0, f"re-upload of revision 0 failed:\n{second.stdout}\n{second.stderr}"
    assert "Recipe is up to date" not in second.stdout, second.stdout
    assert "Package is up to date" not in second.stdout, second.stdout

    # The snapshots list exactly the files (and md5s) of the second upload.
    uploaded = builder.metadata()
    recipe_sums = {name: sums["md5"] for name, sums in uploaded["recipe"]["checksums"].items()}
    package_sums = {name: sums["md5"] for name, sums in uploaded["packages"][package_id]["checksums"].items()}
    assert v1_snapshot(api, server) == recipe_sums
    assert v1_snapshot(api, server, "packages", package_id) == package_sums
    if change == "dropped_exports_sources":
        assert "conan_sources.tgz" not in recipe_sums
        assert "conan_sources.tgz" not in v1_snapshot(api, server)
    else:
        assert recipe_sums["conan_sources.tgz"] != first_snapshot["conan_sources.tgz"]
    assert recipe_sums["conanfile.py"] != first_snapshot["conanfile.py"]

    # A fresh consumer gets exactly the new content.
    consumer.run("install", REFERENCE, "-r", REMOTE)
    consumer.run("download", REFERENCE, "-r", REMOTE)
    got = consumer_files1(consumer, package_id)
    assert got["export"]["conanfile.py"] == (recipe / "conanfile.py").read_bytes()
    assert got["export"]["conanfile.py"] == (builder.layout() / "export" / "conanfile.py").read_bytes()
    assert {path: data for path, data in got["package"].items() if path.startswith("data/")} == {
        "data/keep.txt": NEW_KEEP.encode()
    }
    if change == "dropped_exports_sources":
        assert got["export_source"] == {}, got["export_source"]
    else:
        assert got["export_source"] == {"src/keep.txt": NEW_KEEP.encode()}, got["export_source"]
    assert_verify_clean(server)

    # Uploading the same thing again changes nothing and says so.
    again = builder.run("upload", REFERENCE, "--all", "-r", REMOTE, "-c")
    assert "Recipe is up to date, upload skipped" in again.stdout, again.stdout
    assert "Package is up to date, upload skipped" in again.stdout, again.stdout
    assert v1_snapshot(api, server) == recipe_sums
    assert v1_snapshot(api, server, "packages", package_id) == package_sums
    assert_verify_clean(server)


# --- 2. Conan 2: the same revisions from other builders ------------------------------------------

RECIPE2 = '''
import os
from conan import ConanFile
from conan.tools.files import copy


class Pkg(ConanFile):
    name = "pkg"
    version = "0.1"
    settings = "os", "arch"
    exports = "notes.txt"
    exports_sources = "src/*"

    def package(self):
        copy(self, "*", os.path.join(self.source_folder, "src"), os.path.join(self.package_folder, "src"))
'''


def checkout2(directory):
    """A fresh checkout of the same recipe: same bytes, new file times (as a CI clone has)."""
    directory = pathlib.Path(directory)
    (directory / "src").mkdir(parents=True)
    (directory / "src" / "answer.c").write_text("int answer = 42;\n")
    (directory / "notes.txt").write_text("exported with the recipe\n")
    (directory / "conanfile.py").write_text(RECIPE2)
    return directory


def local_revisions(conan):
    """(rrev, package_id, prev) of the one package in the local cache."""
    listing = conan.json("list", f"{REFERENCE}:*#*")["Local Cache"][REFERENCE]["revisions"]
    (rrev, data), = listing.items()
    (package_id, package), = data["packages"].items()
    (prev,) = package["revisions"]
    return rrev, package_id, prev


def download_folders(conan, rrev, package_id, prev):
    """The folders where a client keeps the archives it compressed for upload."""
    recipe = conan.cache_path(f"{REFERENCE}#{rrev}").parent / "d"
    package = conan.cache_path(f"{REFERENCE}#{rrev}:{package_id}#{prev}").parent / "d"
    return recipe, package


def build_same_recipe(tmp_path, url, count):
    """`count` builders, each with its own home and checkout, creating the same recipe at
    different seconds, and a consumer with an empty cache; returns the builders, the (common)
    revisions and the consumer."""
    *builders, consumer = clients(
        lambda home: Conan2(home, url), tmp_path, [f"builder{i}" for i in range(count)] + ["consumer"]
    )
    revisions = set()
    for index, builder in enumerate(builders):
        if index:
            time.sleep(1.1)  # another timestamp line in the manifests, other file times in the archives
        source = checkout2(tmp_path / f"checkout{index}")
        builder.run("create", str(source), "--user", "demo", "--channel", "stable")
        revisions.add(local_revisions(builder))
    assert len(revisions) == 1, f"the builders computed different revisions: {revisions}"
    return builders, revisions.pop(), consumer


def test_conan2_force_reupload_of_the_same_revision_keeps_the_first_bytes(server, tmp_path):
    url = server.project_remote()
    (first, second), (rrev, package_id, prev), consumer = build_same_recipe(tmp_path, url, 2)
    first.run("upload", REFERENCE, "-r", REMOTE, "-c")
    forced = second.run("upload", REFERENCE, "-r", REMOTE, "-c", "--force", check=False)
    output = forced.stdout + forced.stderr
    assert forced.returncode == 0, f"upload --force of the same revision failed:\n{output}"
    assert "already in server, forcing upload" in output, output

    # The two builders' archives and manifests differ in bytes (not a vacuous re-upload).
    first_recipe, first_package = download_folders(first, rrev, package_id, prev)
    second_recipe, second_package = download_folders(second, rrev, package_id, prev)
    recipe_files = ["conan_export.tgz", "conan_sources.tgz", "conanfile.py", "conanmanifest.txt"]
    package_files = ["conan_package.tgz", "conaninfo.txt", "conanmanifest.txt"]
    for folder, other, differing in (
        (first_recipe, second_recipe, ["conan_export.tgz", "conan_sources.tgz", "conanmanifest.txt"]),
        (first_package, second_package, ["conan_package.tgz", "conanmanifest.txt"]),
    ):
        for name in differing:
            assert (folder / name).read_bytes() != (other / name).read_bytes(), f"{name} is the same"
        manifest, other_manifest = ((f / "conanmanifest.txt").read_text() for f in (folder, other))
        assert manifest_sums(manifest) == manifest_sums(other_manifest)

    # The server kept the first builder's bytes, file by file.
    api = Api.login(server)
    recipe_url = f"{v2_recipe_url(server)}/revisions/{rrev}"
    package_url = f"{recipe_url}/packages/{package_id}/revisions/{prev}"
    for base, folder, names in ((recipe_url, first_recipe, recipe_files), (package_url, first_package, package_files)):
        listed = api.get(f"{base}/files")
        assert listed.status_code == 200, listed.text
        assert sorted(listed.json()["files"]) == sorted(names)
        for name in names:
            response = api.get(f"{base}/files/{name}")
            assert response.status_code == 200, (name, response.status_code)
            assert sha256(response.content) == sha256((folder / name).read_bytes()), f"{name} is not the first upload's"
    assert v2_revisions(api, v2_recipe_url(server)) == [rrev]
    assert v2_revisions(api, f"{recipe_url}/packages/{package_id}") == [prev]

    consumer.run("install", f"--requires={REFERENCE}", "-r", REMOTE)
    installed = consumer.cache_path(f"{REFERENCE}#{rrev}:{package_id}#{prev}")
    assert files_under(installed) == files_under(first.cache_path(f"{REFERENCE}#{rrev}:{package_id}#{prev}"))
    assert files_under(installed)["src/answer.c"] == b"int answer = 42;\n"

    # A manifest listing other files for the committed revision is a conflict, and changes nothing.
    stored_manifest = api.get(f"{recipe_url}/files/conanmanifest.txt").content
    stored_conanfile = api.get(f"{recipe_url}/files/conanfile.py").content
    before = {table: sqlite_rows(server, query) for table, query in STATE_QUERIES.items() if table != "blobs"}
    lines = stored_manifest.decode().splitlines(keepends=True)
    changed = [
        re.sub(r": [0-9a-f]{32}$", ": " + md5(b"other bytes"), line.rstrip("\n")) + "\n"
        if line.startswith("conanfile.py: ") else line
        for line in lines
    ]
    other_manifest = "".join(changed).encode()
    assert other_manifest != stored_manifest and manifest_sums(other_manifest.decode()) != manifest_sums(stored_manifest.decode())
    refused = api.put(f"{recipe_url}/files/conanmanifest.txt", other_manifest)
    assert refused.status_code == 409, (refused.status_code, refused.text)
    message = refused.text.lower()
    assert "manifest" in message and re.search(r"\bfiles\b|file list", message), refused.text

    other_conanfile = stored_conanfile + b"\n# another recipe\n"
    refused = api.put(f"{recipe_url}/files/conanfile.py", other_conanfile)
    assert refused.status_code == 409, (refused.status_code, refused.text)

    assert api.get(f"{recipe_url}/files/conanmanifest.txt").content == stored_manifest
    assert api.get(f"{recipe_url}/files/conanfile.py").content == stored_conanfile
    after = {table: sqlite_rows(server, query) for table, query in STATE_QUERIES.items() if table != "blobs"}
    assert after == before
    assert v2_revisions(api, v2_recipe_url(server)) == [rrev]
    assert_verify_clean(server)


def test_conan2_builders_force_upload_the_same_revision_at_once(backend, tmp_path):
    url = backend.project_remote()
    builders, (rrev, package_id, prev), consumer = build_same_recipe(tmp_path, url, BUILDERS)
    results = finish([builder.popen("upload", REFERENCE, "-r", REMOTE, "-c", "--force") for builder in builders])
    failed = [(code, out, err) for code, out, err in results if code != 0]
    assert not failed, "uploads failed:\n" + "\n----\n".join(f"{code}\n{out}\n{err}" for code, out, err in failed)
    assert all(f"Uploading recipe '{REFERENCE}#{rrev}'" in err for _, _, err in results), results

    api = Api.login(backend)
    assert v2_revisions(api, v2_recipe_url(backend)) == [rrev]
    recipe_url = f"{v2_recipe_url(backend)}/revisions/{rrev}"
    assert v2_revisions(api, f"{recipe_url}/packages/{package_id}") == [prev]
    # Every stored file is one builder's, whole.
    folders = [download_folders(builder, rrev, package_id, prev) for builder in builders]
    for base, names, kind in (
        (recipe_url, ["conan_export.tgz", "conan_sources.tgz", "conanfile.py", "conanmanifest.txt"], "recipe"),
        (f"{recipe_url}/packages/{package_id}/revisions/{prev}", ["conan_package.tgz", "conaninfo.txt", "conanmanifest.txt"], "package"),
    ):
        listed = api.get(f"{base}/files")
        assert listed.status_code == 200 and sorted(listed.json()["files"]) == sorted(names), listed.text
        for name in names:
            response = api.get(f"{base}/files/{name}")
            assert response.status_code == 200, (name, response.status_code)
            candidates = {
                sha256(((recipe_folder if kind == "recipe" else package_folder) / name).read_bytes())
                for recipe_folder, package_folder in folders
            }
            assert sha256(response.content) in candidates, f"{kind} {name} is no builder's"

    consumer.run("install", f"--requires={REFERENCE}", "-r", REMOTE)
    installed = consumer.cache_path(f"{REFERENCE}#{rrev}:{package_id}#{prev}")
    assert files_under(installed)["src/answer.c"] == b"int answer = 42;\n"
    remote = consumer.json("list", f"{REFERENCE}#*:*#*", "-r", REMOTE)[REMOTE]
    assert list(remote[REFERENCE]["revisions"]) == [rrev], remote
    packages = remote[REFERENCE]["revisions"][rrev]["packages"]
    assert list(packages) == [package_id] and list(packages[package_id]["revisions"]) == [prev], packages
    assert_no_duplicate_rows(backend)
    assert_verify_clean(backend)


def test_conan1_builders_upload_revision_0_at_once(backend, tmp_path):
    url = backend.project_remote()
    *builders, consumer = clients(
        lambda home: Builder1(home, url), tmp_path, [f"builder{i}" for i in range(BUILDERS)] + ["consumer"]
    )
    for index, builder in enumerate(builders):
        if index:
            time.sleep(1.1)  # another timestamp line in each manifest
        recipe = write_recipe1(tmp_path / f"checkout{index}", "same", {"keep.txt": OLD_KEEP, "other.txt": OLD_GONE})
        builder.run("create", str(recipe), "demo/stable")
        builder.add_barrier_hook()
    package_ids = {tuple(builder.metadata()["packages"]) for builder in builders}
    assert len(package_ids) == 1, package_ids
    ((package_id,),) = package_ids

    barrier = barrier_env(tmp_path / "barrier", BUILDERS)
    results = finish([builder.popen("upload", REFERENCE, "--all", "-r", REMOTE, "-c", env=barrier) for builder in builders])
    failed = [(code, out, err) for code, out, err in results if code != 0]
    assert not failed, "uploads failed:\n" + "\n----\n".join(f"{code}\n{out}\n{err}" for code, out, err in failed)
    assert len(list((tmp_path / "barrier").iterdir())) == BUILDERS, "the barrier hook did not run"
    # A race, not a queue: more than one builder sent its recipe (any other found it up to date).
    sent = [out for _, out, _ in results if f"Uploading conanmanifest.txt -> {REFERENCE}\n" in out]
    assert len(sent) >= 2, "\n----\n".join(out for _, out, _ in results)

    # Every file the snapshots list downloads whole, with the md5 listed, and is one builder's.
    api = Api.login(backend)
    files_url = f"{backend.project_remote()}/v1/files/pkg/0.1/demo/stable/0"
    for snapshot, base, local, names in (
        (v1_snapshot(api, backend), f"{files_url}/export", ("export", "dl/export"),
         {"conanfile.py", "conan_sources.tgz", "conanmanifest.txt"}),
        (v1_snapshot(api, backend, "packages", package_id), f"{files_url}/package/{package_id}/0",
         (f"package/{package_id}", f"dl/pkg/{package_id}"), {"conan_package.tgz", "conaninfo.txt", "conanmanifest.txt"}),
    ):
        assert set(snapshot) == names, snapshot
        for name, listed_md5 in snapshot.items():
            response = api.get(f"{base}/{name}")
            assert response.status_code == 200, (name, response.status_code)
            assert md5(response.content) == listed_md5, name
            candidates = {
                md5((builder.layout() / folder / name).read_bytes())
                for builder in builders for folder in local if (builder.layout() / folder / name).exists()
            }
            assert listed_md5 in candidates, f"{name} is no builder's"

    consumer.run("install", REFERENCE, "-r", REMOTE)
    folder = consumer.package_folder(REFERENCE, package_id)
    assert files_under(folder) == {"data/keep.txt": OLD_KEEP.encode(), "data/other.txt": OLD_GONE.encode()}
    # The installed manifest describes the installed files (no mix of two builders' uploads).
    listed = manifest_sums((folder / "conanmanifest.txt").read_text())
    assert set(listed) == {"conaninfo.txt", "data/keep.txt", "data/other.txt"}, listed
    for path, listed_md5 in listed.items():
        assert md5((folder / path).read_bytes()) == listed_md5, path
    assert_no_duplicate_rows(backend)
    assert_verify_clean(backend)


# --- 3. Conan 1 adds binaries to a recipe only Conan 2 uploaded ----------------------------------

RECIPE_BOTH = '''
import os
from conan import ConanFile
from conan.tools.files import save


class Pkg(ConanFile):
    name = "pkg"
    version = "0.1"
    settings = "os", "arch"

    def package(self):
        save(self, os.path.join(self.package_folder, "include", "pkg.h"), "// built by Conan 1\\n")
'''


def test_conan1_uploads_binaries_to_a_recipe_conan2_uploaded(server, tmp_path):
    url = server.project_remote()
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "conanfile.py").write_text(RECIPE_BOTH)

    conan2, (builder, consumer) = at_once(
        lambda: Conan2(tmp_path / "conan2", url),
        lambda: clients(lambda home: Builder1(home, url), tmp_path, ["conan1", "consumer"]),
    )
    conan2.run("export", str(recipe), "--user", "demo", "--channel", "stable")
    conan2.run("upload", REFERENCE, "-r", REMOTE, "-c")
    api = Api.login(server)
    (rrev,) = v2_revisions(api, v2_recipe_url(server))
    assert rrev != "0"
    stored_manifest = api.get(f"{v2_recipe_url(server)}/revisions/{rrev}/files/conanmanifest.txt").content

    builder.run("create", str(recipe), "demo/stable")
    local_manifest = (builder.layout() / "export" / "conanmanifest.txt").read_text()
    assert manifest_sums(local_manifest) == manifest_sums(stored_manifest.decode()), "not the same recipe files"
    (package_id,) = builder.metadata()["packages"]
    upload = builder.run("upload", REFERENCE, "--all", "-r", REMOTE, "-c", check=False)
    assert upload.returncode == 0, f"Conan 1 package upload failed:\n{upload.stdout}\n{upload.stderr}"
    assert "Recipe is up to date, upload skipped" in upload.stdout, upload.stdout
    assert "Uploading conan_package.tgz" in upload.stdout, upload.stdout
    # The recipe Conan 2 uploaded is untouched.
    assert v2_revisions(api, v2_recipe_url(server)) == [rrev]
    assert api.get(f"{v2_recipe_url(server)}/revisions/{rrev}/files/conanmanifest.txt").content == stored_manifest

    consumer.run("install", REFERENCE, "-r", REMOTE)
    installed = files_under(consumer.package_folder(REFERENCE, package_id))
    built = files_under(builder.package_folder(REFERENCE, package_id))
    assert installed == built and installed["include/pkg.h"] == b"// built by Conan 1\n"

    listed = conan2.run("list", f"{REFERENCE}:*", "-r", REMOTE, check=False)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert rrev in listed.stdout, listed.stdout
    listing = conan2.json("list", f"{REFERENCE}:*", "-r", REMOTE)[REMOTE]
    assert "error" not in listing, listing
    assert_verify_clean(server)
