"""A hostile upstream through the whole server: a remote project of the real registry process
caches a small Conan v2 server of this test's own (loopback, with a token login) that misbehaves
on purpose, one way per recipe name. For each way a client's read through the remote project is
a 502 or 504 naming the upstream's host, within a bounded time, with no credentials in it; the
project holds nothing afterwards, and once the upstream behaves the next read fetches the right
bytes; the registry stays healthy throughout.

What the registry asks the upstream (crates/conan-upstream): `v2/users/authenticate` (Basic,
only after a 401), a recipe's `revisions`, a revision's `files` list, then each file, checking
`Content-Length`, `X-Checksum-Sha1`, its file size limit (`api.max_upload_size`), an idle
timeout and a minimum rate, and following redirects only within the upstream's origin.
"""

import base64
import hashlib
import http.server
import json
import re
import threading
import time

import pytest
import requests

from conftest import Server
from rawhttp import wait_for
from registry_api import manifest_for, recipe_files, revision_of, sqlite_rows
from remotes import KEY, make_remote

USER, PASSWORD = "mirror-bot", "hostile-secret-pw-7"
TOKEN = "token-" + hashlib.sha1(PASSWORD.encode()).hexdigest()
MAX_FILE = 64 * 1024
# A file larger than the registry's limit, and a metadata answer larger than conan-upstream's
# 8 MiB.
LARGE_FILE = b"\x1f\x8b" + b"L" * (MAX_FILE + 1000)
HUGE_JSON_BYTES = 10 * 1024 * 1024
# Well above what a loaded 2-core machine needs for an answer that involves no timeout.
QUICK_SECS = 20
# The slow body is cut after one span of conan-upstream's 30 s idle timeout (its minimum rate).
SLOW_SECS = 75


def files_of(name):
    """The upstream's one recipe revision of `name`/1.0: (revision, {path: bytes})."""
    files = recipe_files(name, size=256)
    if name.startswith("too-large"):
        files = {"conanfile.py": files["conanfile.py"], "conan_export.tgz": LARGE_FILE}
        files["conanmanifest.txt"] = manifest_for(files)
    return revision_of(files), files


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers as the upstream's `behaviour` for the recipe name says, closing each connection
    (so a body cut short is cut short)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=(), length=True):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(body)
        except OSError:
            # The registry hung up first, as it should on an answer it refuses.
            pass

    def send_json(self, value):
        self.send(200, json.dumps(value).encode(), [("Content-Type", "application/json")])

    def do_GET(self):
        upstream = self.server.upstream
        upstream.requests.append(self.path)
        if self.path.endswith("/v2/users/authenticate"):
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") == expected:
                return self.send(200, TOKEN.encode())
            return self.send(401)
        if upstream.private and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.send(401)
        match = re.fullmatch(r"/v2/conans/([^/]+)/1\.0/_/_/(revisions(?:/(\w+)/files(?:/(.+))?)?)", self.path)
        if not match:
            return self.send(404)
        name, _, rrev, path = match.groups()
        revision, files = files_of(name)
        case = upstream.behaviour.get(name, "good")
        if rrev is None:
            return self.revisions(case, revision)
        if rrev != revision:
            return self.send(404)
        if path is None:
            return self.file_list(case, files)
        if path not in files:
            return self.send(404)
        return self.file(case, path, files[path])

    def revisions(self, case, revision):
        if case == "malformed-json":
            return self.send(200, b'{"revisions": [{"revision": "', [("Content-Type", "application/json")])
        if case == "huge-json":
            # No Content-Length: the registry must stop reading at its own limit.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            entry = json.dumps({"revision": revision, "time": "2024-05-01T12:00:00Z"}).encode() + b","
            try:
                self.wfile.write(b'{"revisions": [')
                for _ in range(HUGE_JSON_BYTES // len(entry) // 1000 + 1):
                    self.wfile.write(entry * 1000)
                self.wfile.write(entry[:-1] + b"]}")
            except OSError:
                pass
            return None
        return self.send_json({"revisions": [{"revision": revision, "time": "2024-05-01T12:00:00Z"}]})

    def file_list(self, case, files):
        listed = {path: {} for path in files}
        if case == "dotdot-path":
            listed["../../etc/passwd"] = {}
        if case == "absolute-path":
            listed["/etc/passwd"] = {}
        if case == "malformed-files-json":
            return self.send(200, b'{"files": {"conanfile.py": ', [("Content-Type", "application/json")])
        return self.send_json({"files": listed})

    def file(self, case, path, body):
        sha1 = hashlib.sha1(body).hexdigest()
        # The recipe's other files answer well, so the fetch reaches the bad one.
        if path != "conan_export.tgz" or case in ("good", "too-large-announced"):
            return self.send(200, body, [("X-Checksum-Sha1", sha1)])
        if case == "short-body":
            self.send(200, body[: len(body) // 2], [("Content-Length", str(len(body)))], length=False)
            return None
        if case == "wrong-sha1":
            return self.send(200, body, [("X-Checksum-Sha1", hashlib.sha1(b"other").hexdigest())])
        if case.startswith("redirect-"):
            host = "127.0.0.1" if case == "redirect-port" else "localhost"
            location = f"http://{host}:{self.server.upstream.decoy_port}{self.path}"
            return self.send(302, headers=[("Location", location)])
        if case in ("too-large-chunked", "slow-endless"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            return self.chunks(body if case == "too-large-chunked" else None)
        raise AssertionError(f"no file behaviour for {case}")

    def chunks(self, body):
        """`body` in 4 KiB chunks; with no body, a byte a second until the registry hangs up or
        the upstream stops."""
        try:
            if body is not None:
                for start in range(0, len(body), 4096):
                    piece = body[start:start + 4096]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
                return
            while not self.server.upstream.stopping.wait(1):
                self.wfile.write(b"1\r\nx\r\n")
                self.wfile.flush()
        except OSError:
            pass


class HostileUpstream:
    """The upstream on a free loopback port; `behaviour` maps a recipe name to its misbehaviour
    (absent: good), `requests` lists the paths asked."""

    def __init__(self, private=True, decoy_port=None):
        self.private = private
        self.decoy_port = decoy_port
        self.behaviour = {}
        self.requests = []
        self.stopping = threading.Event()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.upstream = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The registry (SQLite, files of at most 64 KiB) with a remote project caching the hostile
    upstream with credentials, and a decoy server the upstream redirects to."""
    decoy = HostileUpstream(private=False)
    upstream = HostileUpstream(decoy_port=decoy.server.server_address[1])
    server = Server(tmp_path_factory.mktemp("hostile-upstream") / "data", {
        "CONAN_REGISTRY__REMOTE__CREDENTIALS_KEY": KEY,
        "CONAN_REGISTRY__API__MAX_UPLOAD_SIZE": str(MAX_FILE),
    })
    try:
        url = make_remote(server, upstream.url, user=USER, password=PASSWORD)
        yield server, url, upstream, decoy
    finally:
        server.stop()
        upstream.stop()
        decoy.stop()


def held_revisions(server, name):
    """The committed recipe revisions of `name` the registry holds, in any project."""
    return sqlite_rows(server, "SELECT r.revision FROM recipe_revisions r JOIN recipes c ON c.id = r.recipe_id "
                               f"WHERE c.name = '{name}' AND r.committed_at IS NOT NULL")


def upstream_done(server, name, log_before):
    """Whether the registry has logged the end of a failed fetch or list of `name`."""
    log = "".join(server.output[log_before:])
    return "fetch failed" in log or "upstream failed" in log or "fetch refused" in log


# case: (the read that meets the misbehaviour: "latest" or "files", the bound in seconds, what the
# registry's warning says, so each case is refused for its own reason).
REFUSED = "conan_export.tgz was refused"
CASES = {
    "short-body": ("files", QUICK_SECS, REFUSED),
    "wrong-sha1": ("files", QUICK_SECS, "checksum mismatch"),
    "too-large-announced": ("files", QUICK_SECS, f"larger than the limit of {MAX_FILE} bytes"),
    "too-large-chunked": ("files", QUICK_SECS, REFUSED),
    "slow-endless": ("files", SLOW_SECS, REFUSED),
    "redirect-port": ("files", QUICK_SECS, "redirected to another host (127.0.0.1)"),
    "redirect-host": ("files", QUICK_SECS, "redirected to another host (localhost)"),
    "dotdot-path": ("files", QUICK_SECS, 'file path "../../etc/passwd"'),
    "absolute-path": ("files", QUICK_SECS, 'file path "/etc/passwd"'),
    "malformed-files-json": ("files", QUICK_SECS, "malformed JSON"),
    "malformed-json": ("latest", QUICK_SECS, "malformed JSON"),
    "huge-json": ("latest", QUICK_SECS, "larger than the limit of 8388608 bytes"),
}


# The cases whose misbehaviour is in conan_export.tgz's body or its answer: the file list is the
# upstream's (fine) and answers while the fetch goes on, so the read that meets it is the file's.
BODY_CASES = {"short-body", "wrong-sha1", "too-large-announced", "too-large-chunked", "slow-endless",
              "redirect-port", "redirect-host"}


def read_file(url, expected):
    """GETs a file as a client does: (status, text of an error answer, whether it arrived whole
    and equal to `expected`)."""
    try:
        with requests.get(url, stream=True, timeout=SLOW_SECS + 60) as answer:
            if answer.status_code != 200:
                return answer.status_code, answer.text, False
            body = b"".join(answer.iter_content(65536))
            announced = answer.headers.get("Content-Length")
            whole = body == expected and (announced is None or int(announced) == len(body))
            return 200, "", whole
    except requests.RequestException:
        # Cut short: the registry hung up before the announced length.
        return 200, "", False


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_upstream_is_a_clear_error_and_caches_nothing(setup, case):
    server, url, upstream, decoy = setup
    read, bound, reason = CASES[case]
    # The well-behaved answers of a too-large case would be refused too: it gets its own name.
    name = case
    revision, files = files_of(name)
    upstream.behaviour[name] = case
    recipe = f"{url}/v2/conans/{name}/1.0/_/_"
    target = f"{recipe}/latest" if read == "latest" else f"{recipe}/revisions/{revision}/files"
    decoy_before = len(decoy.requests)
    log_before = len(server.output)

    started = time.monotonic()
    if case in BODY_CASES:
        listing = requests.get(target, timeout=60)
        assert listing.status_code in (200, 502, 504), (listing.status_code, listing.text)
        # Refused before its first byte (a 502/504 naming the upstream), or, once it has started
        # streaming, cut short of its announced length: never a whole file.
        status, text, whole = read_file(f"{recipe}/revisions/{revision}/files/conan_export.tgz",
                                        files["conan_export.tgz"])
        assert not whole, case
        assert status in (200, 502, 504), (status, text)
        if status != 200:
            assert "127.0.0.1" in text, text
        answer_text = text
    else:
        answer = requests.get(target, timeout=SLOW_SECS + 60)
        assert answer.status_code in (502, 504), (answer.status_code, answer.text)
        assert "127.0.0.1" in answer.text, answer.text
        answer_text = answer.text
    elapsed = time.monotonic() - started
    assert elapsed < bound, elapsed
    wait_for(lambda: reason in "".join(server.output[log_before:]), message=reason)
    for secret in (PASSWORD, TOKEN, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()):
        assert secret not in answer_text and secret not in server.log()
    assert len(decoy.requests) == decoy_before, decoy.requests[decoy_before:]
    wait_for(lambda: upstream_done(server, name, log_before), message="the failed fetch to end")
    assert held_revisions(server, name) == []

    # Behaving, the upstream's revision is fetched whole: nothing of the bad answer was kept.
    if not case.startswith("too-large"):
        upstream.behaviour[name] = "good"
        # The revision list of a bad-list case was not cached either.
        latest = requests.get(f"{recipe}/latest", timeout=60)
        assert latest.status_code == 200 and latest.json()["revision"] == revision, latest.text
        listing = requests.get(f"{recipe}/revisions/{revision}/files", timeout=60)
        assert listing.status_code == 200, listing.text
        assert sorted(listing.json()["files"]) == sorted(files)
        for path, body in files.items():
            got = requests.get(f"{recipe}/revisions/{revision}/files/{path}", timeout=60)
            assert got.status_code == 200 and got.content == body, (path, got.status_code)
        # Committed once its manifest, stored last, is in (just after the client's reads).
        wait_for(lambda: held_revisions(server, name) == [(revision,)], message="the revision to be committed")

    assert requests.get(f"{server.url}/-/health", timeout=10).status_code == 200
    assert server.alive()
