"""What the remote project tests share: setting up a remote project with the admin command line,
publishing to and installing through it with the real Conan 2 client, plain GETs, and what an
upstream conan-registry's access log and a node's metrics say."""

import base64
import concurrent.futures
import os
import re
import threading
import urllib.error
import urllib.request

import requests

from conftest import ADMIN_PASSWORD, files_under, write_recipe

MIRROR = "mirror/center"
# remote.credentials_key: the same on every node of a test run, as on a real fleet.
KEY = base64.b64encode(os.urandom(32)).decode()


def make_remote(main, upstream_url, ttl=300, user="admin", password=ADMIN_PASSWORD, project=MIRROR):
    """Creates the public remote project `project` on `main` caching `upstream_url` with these
    credentials; returns its Conan remote URL."""
    main.admin("project", "create", project, "--visibility", "public")
    out = main.admin(
        "remote", "set", project, "--url", upstream_url, "--user", user,
        "--password-stdin", "--metadata-ttl-secs", str(ttl), "--not-found-ttl-secs", "1",
        stdin=password + "\n",
    ).stdout
    assert "credentials         set" in out, out
    assert password not in out
    project_id = int(re.search(r"\(id (\d+)\)", out).group(1))
    return main.project_remote(project_id)


def project_id_of(url):
    return int(re.search(r"/projects/(\d+)/", url).group(1))


def publish(conan, tmp_path, upstream, name="hello", version="1.0", source="int answer = 42;\n"):
    """Creates `name/version` and uploads it to the upstream registry's project 1; returns its
    recipe revision."""
    conan.run("remote", "add", "up", upstream.project_remote(1), "--force")
    conan.run("remote", "login", "up", "admin", "-p", ADMIN_PASSWORD)
    directory = write_recipe(tmp_path / f"src-{name}-{abs(hash(source))}", name=name, version=version, source=source)
    conan.run("create", str(directory), "-s", "arch=x86_64")
    conan.run("upload", f"{name}/{version}", "-r", "up", "-c")
    listing = conan.json("list", f"{name}/{version}#latest", "-r", "up")["up"]
    (revision,) = listing[f"{name}/{version}"]["revisions"]
    return revision


def package_files(conan, reference="hello/1.0"):
    """The files of the one package of `reference` in the client's cache."""
    return files_under(conan.cache_path(f"{reference}:" + package_id(conan, reference)))


def install(conan, url, reference="hello/1.0"):
    """Installs `reference` from an empty cache through `url`; returns the package's files."""
    conan.run("remote", "add", "main", url, "--force")
    conan.run("install", f"--requires={reference}", "-r", "main", "-s", "arch=x86_64")
    return package_files(conan, reference)


def package_id(conan, reference):
    listing = conan.json("list", f"{reference}:*")["Local Cache"]
    (recipe,) = listing.values()
    (revision,) = recipe["revisions"].values()
    (pid,) = revision["packages"]
    return pid


def get(url, timeout=60):
    """GET `url`: (status, headers, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def file_gets(upstream, sizes=None):
    """The upstream's successful file downloads, by path, from its access log (and their
    sizes into `sizes`)."""
    counts = {}
    for line in upstream.log().splitlines():
        if "conan_registry::access" not in line or "method=GET" not in line:
            continue
        path = re.search(r"path=(\S+)", line)
        status = re.search(r"status=(\d+)", line)
        if path and status and status.group(1) == "200" and "/files/" in path.group(1):
            counts[path.group(1)] = counts.get(path.group(1), 0) + 1
            if sizes is not None:
                sizes[path.group(1)] = int(re.search(r"bytes_out=(\d+)", line).group(1))
    return counts


def metric(main, name, project_id):
    text = get(f"{main.url}/metrics")[2].decode()
    found = re.search(rf'^conan_registry_{name}\{{project="{project_id}"\}} (\d+)', text, re.M)
    assert found, text[-2000:]
    return int(found.group(1))


def _latest(session, base):
    answer = session.get(f"{base}/latest", timeout=120)
    assert answer.status_code == 200, (base, answer.status_code, answer.text)
    return answer.json()["revision"]


def _revision_files(session, base, prefix):
    listing = session.get(f"{base}/files", timeout=120)
    assert listing.status_code == 200, (base, listing.status_code, listing.text)
    files = {}
    for path in sorted(listing.json()["files"]):
        answer = session.get(f"{base}/files/{path}", timeout=120)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        files[f"{prefix}/{path}"] = answer.content
    return files


def conan_like_download(url, package, reference="hello/1.0", auth=None):
    """What `conan install` asks a remote, as plain GETs: the recipe's latest revision, its
    file list and files, then the package's (`package`, a package id). Returns {"recipe/<path>"
    or "package/<path>": bytes}."""
    with requests.Session() as session:
        session.auth = auth
        recipe = f"{url}/v2/conans/{reference}/_/_"
        rrev = _latest(session, recipe)
        files = _revision_files(session, f"{recipe}/revisions/{rrev}", "recipe")
        owner = f"{recipe}/revisions/{rrev}/packages/{package}"
        prev = _latest(session, owner)
        files.update(_revision_files(session, f"{owner}/revisions/{prev}", "package"))
    return files


def all_at_once(jobs):
    """Runs each job (a callable) on its own thread, all released together; their results in
    order."""
    start = threading.Barrier(len(jobs))

    def run(job):
        start.wait()
        return job()

    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))
