"""Hostile input against the real server process: every case gets a 4xx (with GitLab's JSON
error body when the request reaches the application; the bare 4xx of the HTTP parser when it
does not) and changes nothing, which each test checks by comparing every stored row and blob
file before and after.

One server serves the whole module (cases are read-only by construction, and the few that
must create a user or token take their own "before"). Raw sockets send what HTTP libraries
would normalise or refuse to send.
"""

import base64
import hashlib
import hmac
import json
import re
import socket
import time

import pytest
import requests

import rawhttp
from conftest import ADMIN_PASSWORD, CONAN2_VERSIONS, Conan, Server
from registry_api import Api, manifest_for, recipe_files, revision_of, sqlite_rows, staging_files, state

PROJECT = "/api/v4/projects/1/packages/conan"
INSTANCE = "/api/v4/packages/conan"
MAX_UPLOAD = 1 << 20
PKGID = "8f4a" + "0" * 36
PREV = "b" * 32


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A server with a 1 MiB upload limit, login rate limiting off (these tests send hundreds
    of bad credentials on purpose; rate limiting has its own tests below), a committed recipe
    and package at each prefix, and an admin token."""
    server = Server(
        tmp_path_factory.mktemp("hostile") / "data",
        {
            "CONAN_REGISTRY__API__MAX_UPLOAD_SIZE": str(MAX_UPLOAD),
            "CONAN_REGISTRY__AUTH__LOGIN_FAILURE_WINDOW_SECS": "0",
        },
    )
    try:
        api = Api.login(server)
        seeds = {}
        for prefix, user, channel in ((PROJECT, "_", "_"), (INSTANCE, "demo+packages", "stable")):
            files = recipe_files(prefix)
            rrev = revision_of(files)
            recipe = f"{server.url}{prefix}/v2/conans/seed/1.0/{user}/{channel}"
            for path in ("conanfile.py", "conan_export.tgz", "conanmanifest.txt"):
                response = api.put(f"{recipe}/revisions/{rrev}/files/{path}", files[path])
                assert response.status_code == 200, response.text
            package = {"conaninfo.txt": b"[settings]\nos=Linux\n", "conan_package.tgz": b"\x1f\x8bpackage"}
            package["conanmanifest.txt"] = manifest_for(package)
            for path in ("conaninfo.txt", "conan_package.tgz", "conanmanifest.txt"):
                url = f"{recipe}/revisions/{rrev}/packages/{PKGID}/revisions/{PREV}/files/{path}"
                response = api.put(url, package[path])
                assert response.status_code == 200, response.text
            seeds[prefix] = {"user": user, "channel": channel, "rrev": rrev, "files": files, "package": package}
        server.api = api
        server.seeds = seeds
        yield server
    finally:
        server.stop()


def auth(server):
    return ("Authorization", f"Bearer {server.api.token}")


def assert_refused(response, statuses=None, mentions=None, json_body=True):
    """A 4xx; with `json_body`, GitLab's structured error naming what is wrong."""
    assert response is not None, "the server closed the connection without answering"
    if statuses:
        assert response.status in statuses, response
    assert 400 <= response.status < 500, response
    if json_body:
        assert response.headers.get("content-type") == "application/json", response
        body = response.json()
        assert body["message"].startswith(str(response.status)), body
        assert body["errors"][0]["status"] == response.status, body
        if mentions:
            assert mentions in body["message"], body
    return response


class Unchanged:
    """Asserts that nothing stored changed between entering and leaving the block."""

    def __init__(self, server):
        self.server = server

    def __enter__(self):
        self.before = state(self.server)
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            after = state(self.server)
            changed = sorted(table for table in after["rows"] if after["rows"][table] != self.before["rows"][table])
            changed += [part for part in ("blobs", "staging") if after[part] != self.before[part]]
            assert after == self.before, f"a refused request changed the stored state: {changed}"


# ---------------------------------------------------------------------------------------------
# Path traversal in every path parameter of the v1 and v2 routes, at both prefixes.

R2 = "/v2/conans/{name}/{version}/{user}/{channel}"
R1 = "/v1/conans/{name}/{version}/{user}/{channel}"
F1 = "/v1/files/{name}/{version}/{user}/{channel}/{rrev}"
ROUTES = [
    ("GET", R2 + "/latest"),
    ("GET", R2 + "/revisions"),
    ("GET", R2 + "/search"),
    ("DELETE", R2),
    ("DELETE", R2 + "/revisions/{rrev}"),
    ("GET", R2 + "/revisions/{rrev}/files"),
    ("GET", R2 + "/revisions/{rrev}/files/{path}"),
    ("PUT", R2 + "/revisions/{rrev}/files/{path}"),
    ("GET", R2 + "/revisions/{rrev}/search"),
    ("DELETE", R2 + "/revisions/{rrev}/packages"),
    ("DELETE", R2 + "/revisions/{rrev}/packages/{pkgid}"),
    ("GET", R2 + "/revisions/{rrev}/packages/{pkgid}/latest"),
    ("GET", R2 + "/revisions/{rrev}/packages/{pkgid}/revisions"),
    ("DELETE", R2 + "/revisions/{rrev}/packages/{pkgid}/revisions/{prev}"),
    ("GET", R2 + "/revisions/{rrev}/packages/{pkgid}/revisions/{prev}/files"),
    ("GET", R2 + "/revisions/{rrev}/packages/{pkgid}/revisions/{prev}/files/{path}"),
    ("PUT", R2 + "/revisions/{rrev}/packages/{pkgid}/revisions/{prev}/files/{path}"),
    ("GET", R1),
    ("DELETE", R1),
    ("GET", R1 + "/digest"),
    ("GET", R1 + "/download_urls"),
    ("POST", R1 + "/upload_urls"),
    ("GET", R1 + "/search"),
    ("POST", R1 + "/remove_files"),
    ("POST", R1 + "/packages/delete"),
    ("GET", R1 + "/packages/{pkgid}"),
    ("GET", R1 + "/packages/{pkgid}/digest"),
    ("GET", R1 + "/packages/{pkgid}/download_urls"),
    ("POST", R1 + "/packages/{pkgid}/upload_urls"),
    ("GET", F1 + "/export/{path}"),
    ("PUT", F1 + "/export/{path}"),
    ("GET", F1 + "/package/{pkgid}/{prev}/{path}"),
    ("PUT", F1 + "/package/{pkgid}/{prev}/{path}"),
]
BODIES = {
    "PUT": b"hostile content\n",
    "POST": b'{"conanfile.py": 10, "conaninfo.txt": 10, "package_ids": ["' + PKGID.encode() + b'"], "files": ["conanfile.py"]}',
}

SEGMENT_PAYLOADS = [
    "..",
    "%2e%2e",
    "%2E%2e",
    ".",
    "..%2f..%2fetc",
    "%2f",
    "%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5c..%5cwindows",
    "..%255c..%255c",
    "%00",
    "C:%5cWindows",
]
PATH_PAYLOADS = [
    "../../../etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "..%5c..%5cwindows%5cwin.ini",
    "C:%5cWindows%5cwin.ini",
    "a/./b",
    "a//b",
    "a/%2e%2e/%2e%2e/b",
    "conanfile.py%00.txt",
    "%2e",
]
PARAMETERS = ["name", "version", "user", "channel", "rrev", "pkgid", "prev"]


def valid_values(server, prefix):
    seed = server.seeds[prefix]
    return {
        "name": "seed",
        "version": "1.0",
        "user": seed["user"],
        "channel": seed["channel"],
        "rrev": seed["rrev"],
        "pkgid": PKGID,
        "prev": PREV,
        "path": "conanfile.py",
    }


def attack(server, parameter, payload):
    """Every route with `parameter`, at both prefixes, with `payload` in its place."""
    answers = []
    for prefix in (PROJECT, INSTANCE):
        values = valid_values(server, prefix)
        for method, template in ROUTES:
            if "{" + parameter + "}" not in template:
                continue
            values_here = dict(values)
            values_here[parameter] = payload
            if "/package/" in template and "{path}" in template and parameter != "path":
                values_here["path"] = "conaninfo.txt"
            target = prefix + template.format(**values_here)
            body = BODIES.get(method, b"")
            headers = [auth(server)]
            if method == "PUT":
                headers.append(("X-Checksum-Sha1", hashlib.sha1(body).hexdigest()))
            response = rawhttp.request(server.url, method, target, headers, body)
            answers.append((method, target, response))
    assert answers
    return answers


@pytest.mark.parametrize("payload", SEGMENT_PAYLOADS)
@pytest.mark.parametrize("parameter", PARAMETERS)
def test_traversal_in_segment_parameters(hostile, parameter, payload):
    with Unchanged(hostile):
        for method, target, response in attack(hostile, parameter, payload):
            # At the instance prefix a bad user names no project: 404; everything else is a 400
            # that names the parameter.
            assert_refused(response, statuses=(400, 404))
            assert response.status == 400 or parameter == "user", (method, target, response)


@pytest.mark.parametrize("payload", PATH_PAYLOADS)
def test_traversal_in_file_paths(hostile, payload):
    with Unchanged(hostile):
        for method, target, response in attack(hostile, "path", payload):
            assert_refused(response, statuses=(400,), mentions="invalid file path")
    root = hostile.data_dir.parent
    assert not (root / "etc").exists() and not (hostile.data_dir / "etc").exists()


@pytest.mark.parametrize(
    "project", ["..", "%2e%2e", "1%2f..%2f2", "demo%2f..%2fpackages", "%2f", "%2fetc%2fpasswd", "..%5c1", "%00", "-1", "1.0", "99999999999999999999999"]
)
def test_traversal_in_the_project_id(hostile, project):
    seed = hostile.seeds[PROJECT]
    with Unchanged(hostile):
        for method, template in [("GET", R2 + "/latest"), ("PUT", R2 + "/revisions/{rrev}/files/{path}"), ("DELETE", R2), ("GET", "/v2/conans/search?q=*")]:
            target = f"/api/v4/projects/{project}/packages/conan" + template.format(**valid_values(hostile, PROJECT))
            body = BODIES.get(method, b"")
            response = rawhttp.request(hostile.url, method, target, [auth(hostile)], body)
            assert_refused(response, statuses=(404,), mentions="Project Not Found")
    assert seed["rrev"] in Api(hostile, hostile.api.token).revisions("seed")


@pytest.mark.parametrize("target", [
    "/api/v4/projects/1/packages/conan/v2/conans/seed/1.0/_/_/revisions/{rrev}/files/..\\..\\x",
    "/api/v4/projects/1/packages/conan/v2/conans/seed/1.0/_/_/revisions/{rrev}/files/a b",
    "/api/v4/projects/1/packages/conan/v2/conans/seed/1.0/_/_/revisions/{rrev}/files/\x00",
    "*",
    "../../../../etc/passwd",
])
def test_raw_request_targets_the_http_layer_refuses(hostile, target):
    """Bytes that are not allowed in a request target at all, or targets that are not paths:
    the HTTP layer refuses them (400 without a body) or the router finds nothing (404)."""
    target = target.format(rrev=hostile.seeds[PROJECT]["rrev"])
    with Unchanged(hostile):
        response = rawhttp.request(hostile.url, "GET", target, [auth(hostile)])
        assert response is None or 400 <= response.status < 500, response


# ---------------------------------------------------------------------------------------------
# Invalid references, revisions and package ids.

INVALID = [
    ("name", "a", "package name"),
    ("name", "x" * 102, "package name"),
    ("name", "zlib$", "package name"),
    ("name", "zl%20ib", "package name"),
    ("name", "zl%C3%ADb", "package name"),
    ("name", "-zlib", "package name"),
    ("name", "%ff%fe", "not UTF-8"),
    ("version", "1.0$", "version"),
    ("version", "v" * 102, "version"),
    ("version", "1.0%20beta", "version"),
    ("user", "a%2fb", "user"),
    ("user", "u" * 102, "user"),
    ("channel", "st@ble", "channel"),
    ("rrev", "xyz", "recipe revision"),
    ("rrev", "0" * 31, "recipe revision"),
    ("rrev", "A" * 32, "recipe revision"),
    ("rrev", "a" * 41, "recipe revision"),
    ("rrev", "latest", "recipe revision"),
    ("rrev", "a" * 32 + "%00", "recipe revision"),
    ("pkgid", "xyz", "package id"),
    ("pkgid", "0" * 39, "package id"),
    ("pkgid", "g" * 40, "package id"),
    ("pkgid", "A" * 40, "package id"),
    ("prev", "xyz", "package revision"),
    ("prev", "B" * 32, "package revision"),
    ("prev", "b" * 33, "package revision"),
]


@pytest.mark.parametrize("parameter,value,named", INVALID, ids=[f"{p}-{v[:12]}" for p, v, _ in INVALID])
def test_invalid_references_revisions_and_package_ids(hostile, parameter, value, named):
    with Unchanged(hostile):
        for method, target, response in attack(hostile, parameter, value):
            if parameter == "user" and INSTANCE in target:
                assert_refused(response, statuses=(400, 404))
                continue
            assert_refused(response, statuses=(400,))
            assert named in response.json()["message"], (target, response)


def test_a_channel_without_a_user_is_refused(hostile):
    with Unchanged(hostile):
        response = rawhttp.request(hostile.url, "GET", f"{PROJECT}/v2/conans/seed/1.0/_/stable/latest", [auth(hostile)])
        assert_refused(response, statuses=(400,))


# ---------------------------------------------------------------------------------------------
# Oversized bodies and headers; wrong or missing Content-Length (raw sockets).


def upload_target(server, path="hostile.txt", prefix=PROJECT):
    seed = server.seeds[prefix]
    return f"{prefix}/v2/conans/seed/1.0/{seed['user']}/{seed['channel']}/revisions/{'c' * 32}/files/{path}"


def test_an_announced_length_over_the_limit_is_refused_before_the_body(hostile):
    with Unchanged(hostile):
        sock = rawhttp.connect(hostile.url)
        with sock:
            head = rawhttp.head_bytes("PUT", upload_target(hostile), [
                ("Host", "x"), auth(hostile), ("Content-Length", str(MAX_UPLOAD + 1)), ("Connection", "close")])
            sock.sendall(head)
            # No body sent at all: the answer must come anyway.
            response = rawhttp.read_response(sock)
        assert_refused(response, statuses=(400,), mentions="file too large")


def test_a_chunked_body_that_grows_past_the_limit_is_cut_off(hostile):
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_UPLOAD // len(chunk) + 4)) + b"0\r\n\r\n"
    with Unchanged(hostile):
        response = rawhttp.request(
            hostile.url, "PUT", upload_target(hostile), [auth(hostile), ("Transfer-Encoding", "chunked")], body,
            content_length=False,
        )
        assert_refused(response, statuses=(400,), mentions="too large")
        rawhttp.wait_for(lambda: not staging_files(hostile), message="staging to be empty")


def test_an_oversized_json_body_is_refused(hostile):
    body = b'{"conanfile.py": 1, ' + b'"x": 1, ' * 200_000 + b'"y": 1}'
    with Unchanged(hostile):
        response = rawhttp.request(hostile.url, "POST", f"{PROJECT}/v1/conans/seed/1.0/_/_/upload_urls", [auth(hostile)], body)
        # actix-web's payload limit (256 KiB) answers before the JSON is parsed: a plain 413.
        assert_refused(response, statuses=(413,), json_body=False)


@pytest.mark.parametrize("case", ["one-huge-header", "many-headers", "huge-url", "huge-authorization"])
def test_oversized_headers_and_urls(hostile, case):
    target = f"{PROJECT}/v2/conans/seed/1.0/_/_/latest"
    headers = [auth(hostile)]
    if case == "one-huge-header":
        headers.append(("X-Padding", "a" * 70_000))
    elif case == "many-headers":
        headers += [(f"X-H{i}", "a") for i in range(200)]
    elif case == "huge-url":
        target += "?" + "a" * 100_000
    else:
        headers = [("Authorization", "Bearer " + "a" * 70_000)]
    # A head over actix-web's buffer is 431, unless it arrived in one read (then it is parsed:
    # harmless, since a read is bounded too); a huge bearer token is simply not a valid one.
    allowed = {
        "one-huge-header": (200, 431),
        "many-headers": (400, 431),
        "huge-url": (400, 414, 431),
        "huge-authorization": (401, 431),
    }[case]
    with Unchanged(hostile):
        try:
            response = rawhttp.request(hostile.url, "GET", target, headers)
        except (ConnectionResetError, BrokenPipeError):
            response = None  # refused before reading everything; the next check shows it lives
        assert response is None or response.status in allowed, response
    assert Api(hostile, hostile.api.token).revisions("seed")


LENGTH_CASES = {
    "missing": ([], b"abcd", 411),
    "not-a-number": ([("Content-Length", "abc")], b"abcd", 400),
    "negative": ([("Content-Length", "-1")], b"abcd", 400),
    "overflowing": ([("Content-Length", "99999999999999999999999")], b"abcd", 400),
    "two-different": ([("Content-Length", "3"), ("Content-Length", "4")], b"abcd", 400),
    "with-chunked": ([("Content-Length", "4"), ("Transfer-Encoding", "chunked")], b"4\r\nabcd\r\n0\r\n\r\n", 400),
    "unknown-transfer-encoding": ([("Transfer-Encoding", "gzip")], b"abcd", 400),
    "chunked-garbage": ([("Transfer-Encoding", "chunked")], b"zz\r\nabcd\r\n0\r\n\r\n", 400),
}


@pytest.mark.parametrize("case", sorted(LENGTH_CASES))
def test_wrong_or_missing_content_length(hostile, case):
    headers, body, status = LENGTH_CASES[case]
    headers = [auth(hostile), ("X-Checksum-Sha1", hashlib.sha1(b"abcd").hexdigest())] + headers
    with Unchanged(hostile):
        response = rawhttp.request(hostile.url, "PUT", upload_target(hostile), headers, body, content_length=False)
        if case == "chunked-garbage" and response is None:
            # The body's framing breaks after the handler started: the connection is closed.
            pass
        else:
            # The HTTP parser's own 400s have no body; the 411 is the application's.
            assert_refused(response, statuses=(status,), json_body=status == 411)
        rawhttp.wait_for(lambda: not staging_files(hostile), message="staging to be empty")


def test_a_body_shorter_than_its_content_length(hostile):
    """The client announces 1000 bytes, sends 10 and stops sending: the upload is discarded."""
    with Unchanged(hostile):
        sock = rawhttp.connect(hostile.url, timeout=15)
        with sock:
            sock.sendall(rawhttp.head_bytes("PUT", upload_target(hostile), [
                ("Host", "x"), auth(hostile), ("Content-Length", "1000"), ("Connection", "close")]) + b"0123456789")
            sock.shutdown(socket.SHUT_WR)
            response = rawhttp.read_response(sock)
        assert response is None or 400 <= response.status < 500, response
        rawhttp.wait_for(lambda: not staging_files(hostile), message="staging to be empty")


def test_a_body_longer_than_its_content_length(hostile):
    """The extra bytes are not part of the file: the announced checksum no longer matches, and
    the rest is not a valid request."""
    body = b"0123456789abcdef"
    with Unchanged(hostile):
        response = rawhttp.request(hostile.url, "PUT", upload_target(hostile), [
            auth(hostile), ("X-Checksum-Sha1", hashlib.sha1(body).hexdigest()), ("Content-Length", "10")], body,
            content_length=False)
        assert_refused(response, statuses=(400,), mentions="checksum")


# ---------------------------------------------------------------------------------------------
# Malformed and deeply nested JSON (the v1 routes that take a JSON body).

JSON_ROUTES = [R1 + "/upload_urls", R1 + "/packages/{pkgid}/upload_urls", R1 + "/packages/delete", R1 + "/remove_files"]
JSON_BODIES = {
    "empty": b"",
    "truncated": b'{"conanfile.py": ',
    "not-an-object": b'"conanfile.py"',
    "array": b"[1, 2, 3]",
    "nested-arrays": b"[" * 100_000 + b"]" * 100_000,
    "nested-objects": b'{"a":' * 40_000 + b"1" + b"}" * 40_000,
    "nested-in-value": b'{"package_ids": ' + b"[" * 60_000 + b"]" * 60_000 + b', "files": ' + b"[" * 60_000 + b"]" * 60_000 + b"}",
    "invalid-utf8": b'{"conan\xfffile.py": 1, "package_ids": ["\xff"], "files": ["\xff"]}',
    "nul": b'{"\x00": 1}',
    "huge-number": b'{"conanfile.py": 1' + b"0" * 5000 + b', "package_ids": [1e99999], "files": [1e99999]}',
    "wrong-types": b'{"package_ids": "all", "files": {"a": 1}, "conanfile.py": "big"}',
    "traversal-ids": b'{"package_ids": ["../../etc"], "files": ["../../etc/passwd"]}',
    "utf16": '{"conanfile.py": 1}'.encode("utf-16"),
}


# Well-formed JSON objects: `upload_urls` ignores every value (sizes, as GitLab does, without
# recursing into them) and every name that is not a known Conan file, so these get a 200 that
# lists no file.
OBJECTS = {"nested-objects", "nested-in-value", "huge-number", "wrong-types", "traversal-ids"}


@pytest.mark.parametrize("case", sorted(JSON_BODIES))
def test_malformed_json_bodies(hostile, case):
    body = JSON_BODIES[case]
    assert len(body) < 256 * 1024, "under actix-web's payload limit, so the JSON parser sees it"
    values = valid_values(hostile, PROJECT)
    with Unchanged(hostile):
        for template in JSON_ROUTES:
            target = PROJECT + template.format(**values)
            response = rawhttp.request(hostile.url, "POST", target, [auth(hostile), ("Content-Type", "application/json")], body)
            if template.endswith("upload_urls") and case in OBJECTS:
                assert response.status == 200, response
                assert set(response.json()) <= {"conanfile.py", "conaninfo.txt"}, response
                continue
            if template.endswith("remove_files") and case == "traversal-ids":
                assert_refused(response, statuses=(400,), mentions="invalid file path")
                continue
            assert_refused(response, statuses=(400,))


UPLOAD_IDS = ["nope", "a" * 31, "a" * 33, "A" * 32, "a" * 31 + "g", "%00", "..%2f..%2fetc", "a" * 4000]


@pytest.mark.parametrize("upload", UPLOAD_IDS, ids=lambda upload: upload[:12])
def test_malformed_upload_ids_are_refused(hostile, upload):
    """The `upload` parameter of a file PUT (Conan 1 uploads into revision `0`) is 32 lowercase
    hex digits or a 400 naming it, whatever the route, and nothing is stored."""
    seed = hostile.seeds[PROJECT]
    targets = [
        PROJECT + "/v1/files/seed/1.0/_/_/0/export/conanfile.py",
        PROJECT + f"/v1/files/seed/1.0/_/_/{seed['rrev']}/package/{PKGID}/0/conaninfo.txt",
        upload_target(hostile, "conanfile.py"),
    ]
    with Unchanged(hostile):
        for target in targets:
            response = rawhttp.request(hostile.url, "PUT", f"{target}?upload={upload}", [auth(hostile)], b"x")
            assert_refused(response, statuses=(400,), mentions="upload")


def test_remove_files_refuses_the_manifest_and_never_touches_real_revisions(hostile):
    """Conan 1's `remove_files` only ever removes from the mutable revision `0`: the manifest or
    an invalid path is a 400 that removes nothing, and on a recipe whose revisions are all real
    it is a 200 that changes nothing."""
    target = PROJECT + "/v1/conans/seed/1.0/_/_/remove_files"
    headers = [auth(hostile), ("Content-Type", "application/json")]
    with Unchanged(hostile):
        for body in (b'{"files": ["conanmanifest.txt"]}', b'{"files": ["conanfile.py", "a/../b"]}'):
            assert_refused(rawhttp.request(hostile.url, "POST", target, headers, body), statuses=(400,))
        response = rawhttp.request(hostile.url, "POST", target, headers, b'{"files": ["conanfile.py", "conan_export.tgz"]}')
        assert response.status == 200, response


def test_unknown_or_traversing_names_in_upload_urls_are_ignored(hostile):
    """GitLab's behaviour: only known Conan file names get an upload URL; others are dropped."""
    body = b'{"../../etc/passwd": 1, "/abs": 1, "a\\\\b": 1, "conanfile.py": 3}'
    with Unchanged(hostile):
        response = rawhttp.request(hostile.url, "POST", PROJECT + "/v1/conans/seed/1.0/_/_/upload_urls", [auth(hostile)], body)
        assert response.status == 200, response
        assert list(response.json()) == ["conanfile.py"]


# ---------------------------------------------------------------------------------------------
# Invalid UTF-8 in paths, headers and bodies.


@pytest.mark.parametrize("case", ["encoded-name", "encoded-path", "encoded-project", "raw-path"])
def test_invalid_utf8_in_paths(hostile, case):
    rrev = hostile.seeds[PROJECT]["rrev"]
    targets = {
        "encoded-name": f"{PROJECT}/v2/conans/se%ff%fed/1.0/_/_/latest",
        "encoded-path": f"{PROJECT}/v2/conans/seed/1.0/_/_/revisions/{rrev}/files/conan%c0%affile.py",
        "encoded-project": "/api/v4/projects/demo%ff/packages/conan/v2/conans/seed/1.0/_/_/latest",
        "raw-path": b"/api/v4/projects/1/packages/conan/v2/conans/se\xff\xfeed/1.0/_/_/latest",
    }
    methods = ("GET", "PUT") if case == "encoded-path" else ("GET",)
    with Unchanged(hostile):
        for method in methods:
            response = rawhttp.request(hostile.url, method, targets[case], [auth(hostile)], b"x" if method == "PUT" else b"")
            # An `{id}` that does not decode names no project (404); anything else is a 400.
            expected = (404,) if case == "encoded-project" else (400,)
            assert_refused(response, statuses=expected, json_body=case != "raw-path")


@pytest.mark.parametrize("prefix", [PROJECT, INSTANCE])
def test_invalid_utf8_in_query_strings(hostile, prefix):
    """A query value that is not UTF-8 is a 400, never searched for with the bytes replaced."""
    seed = hostile.seeds[prefix]
    recipe = f"{prefix}/v2/conans/seed/1.0/{seed['user']}/{seed['channel']}"
    with Unchanged(hostile):
        for target in (f"{prefix}/v2/conans/search?q=se%ff%fed", f"{prefix}/v1/conans/search?q=%c0%af",
                       f"{recipe}/revisions/{seed['rrev']}/search?q=os%3D%ff"):
            response = rawhttp.request(hostile.url, "GET", target, [auth(hostile)])
            assert_refused(response, statuses=(400,), mentions="not UTF-8")


@pytest.mark.parametrize("header", ["Authorization", "X-Checksum-Sha1", "X-Checksum-Deploy", "Range"])
def test_invalid_utf8_in_headers(hostile, header):
    value = b"\xff\xfe\xc0\xaf" if header != "Authorization" else b"Bearer \xff\xfe\xc0\xaf"
    headers = [auth(hostile)] if header != "Authorization" else []
    headers.append((header, value))
    rrev = hostile.seeds[PROJECT]["rrev"]
    download = f"{PROJECT}/v2/conans/seed/1.0/_/_/revisions/{rrev}/files/conanfile.py"
    if header == "X-Checksum-Deploy":
        # Not `true`, so not a probe: an ordinary upload (to a revision of its own).
        put = rawhttp.request(hostile.url, "PUT", upload_target(hostile, "deploy.txt"), headers, b"abcd")
        assert put.status == 200, put
        return
    with Unchanged(hostile):
        put = None if header == "Range" else rawhttp.request(hostile.url, "PUT", upload_target(hostile), headers, b"abcd")
        get = rawhttp.request(hostile.url, "GET", download, headers)
    if header == "Authorization":
        assert_refused(put, statuses=(401,))
        assert_refused(get, statuses=(401,))
    elif header == "X-Checksum-Sha1":
        assert_refused(put, statuses=(400,), mentions="X-Checksum-Sha1")
        assert get.status == 200
    else:
        # An unreadable Range is ignored, as RFC 9110 allows: the whole file.
        assert get.status == 200 and get.body == hostile.seeds[PROJECT]["files"]["conanfile.py"]


def test_invalid_utf8_in_stored_text_files_is_kept_as_bytes(hostile):
    """A conaninfo.txt that is not UTF-8 is stored byte for byte and package search still
    answers (no 500); the package is removed again."""
    api = hostile.api
    seed = hostile.seeds[PROJECT]
    package = {"conaninfo.txt": b"[settings]\nos=\xff\xfe\n[options]\n\xc0\xaf=1\n", "conan_package.tgz": b"\x1f\x8bx"}
    package["conanmanifest.txt"] = manifest_for(package)
    pkgid = "e" * 40
    base = f"{hostile.url}{PROJECT}/v2/conans/seed/1.0/_/_/revisions/{seed['rrev']}"
    before = state(hostile)
    for path in ("conaninfo.txt", "conan_package.tgz", "conanmanifest.txt"):
        response = api.put(f"{base}/packages/{pkgid}/revisions/{'f' * 32}/files/{path}", package[path])
        assert response.status_code == 200, response.text
    search = api.get(f"{base}/search")
    assert search.status_code == 200, search.text
    assert pkgid in search.json()
    stored = api.get(f"{base}/packages/{pkgid}/revisions/{'f' * 32}/files/conaninfo.txt")
    assert stored.content == package["conaninfo.txt"]
    assert api.delete(f"{base}/packages/{pkgid}").status_code in (200, 204)
    after = state(hostile)
    assert after["rows"]["files"] == before["rows"]["files"]


# ---------------------------------------------------------------------------------------------
# Basic credentials with odd characters.


def basic(raw):
    return "Basic " + base64.b64encode(raw).decode()


BASIC_CASES = {
    "colon-in-password": basic(b"admin:" + ADMIN_PASSWORD.encode() + b":extra"),
    "colons-only": basic(b":::"),
    "empty-user-and-password": basic(b":"),
    "empty-user": basic(b":" + ADMIN_PASSWORD.encode()),
    "empty-password": basic(b"admin:"),
    "unicode-user": basic("ädmin:x".encode()),
    "emoji": basic("🔑admin:🔑".encode()),
    "latin1-bytes": basic(b"adm\xefn:\xff"),
    "nul-bytes": basic(b"admin\x00:" + ADMIN_PASSWORD.encode() + b"\x00"),
    "newline-in-user": basic(b"admin\nX-Injected: 1:x"),
    "very-long-user": basic(b"u" * 6000 + b":x"),
    "very-long-password": basic(b"admin:" + b"p" * 6000),
    "not-base64": "Basic !!!not base64!!!",
    "no-padding": "Basic " + base64.b64encode(b"admin:x").decode().rstrip("="),
    "no-colon": basic(b"admin"),
    "empty": "Basic ",
    "scheme-only": "Basic",
    "double-scheme": "Basic Basic " + base64.b64encode(b"admin:x").decode(),
    "wrong-scheme": "Digest " + base64.b64encode(b"admin:" + ADMIN_PASSWORD.encode()).decode(),
    "token-prefix-garbage": basic(b"admin:crpat-" + b"0" * 40),
    "deploy-prefix-garbage": basic(b"admin:crdt-" + b"z" * 40),
}


@pytest.mark.parametrize("case", sorted(BASIC_CASES))
def test_odd_basic_credentials(hostile, case):
    header = BASIC_CASES[case]
    rrev = hostile.seeds[PROJECT]["rrev"]
    with Unchanged(hostile):
        for prefix in (PROJECT, INSTANCE):
            for version in ("v1", "v2"):
                response = rawhttp.request(hostile.url, "GET", f"{prefix}/{version}/users/authenticate", [("Authorization", header)])
                assert_refused(response, statuses=(401,))
                # Nothing about why: the same answer as for a wrong password.
                assert response.json()["message"] in ("401 Unauthorized - Wrong user or password", "401 Unauthorized")
        for method, target in [
            ("GET", f"{PROJECT}/v2/conans/seed/1.0/_/_/latest"),
            ("GET", f"{PROJECT}/v2/users/check_credentials"),
            ("PUT", upload_target(hostile)),
            ("DELETE", f"{PROJECT}/v2/conans/seed/1.0/_/_/revisions/{rrev}"),
        ]:
            response = rawhttp.request(hostile.url, method, target, [("Authorization", header)], b"x" if method == "PUT" else b"")
            assert_refused(response, statuses=(401,))


# ---------------------------------------------------------------------------------------------
# Conan tokens (JWTs): forged, expired, alg none, other keys, revoked sources, disabled users.


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(header, claims, key):
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    if key is None:
        return signing_input + "."
    algorithm = {"HS256": hashlib.sha256, "HS512": hashlib.sha512, "HS384": hashlib.sha384}[header["alg"]]
    signature = hmac.new(key, signing_input.encode(), algorithm).digest()
    return signing_input + "." + b64url(signature)


def signing_key(server):
    (kid, secret), = sqlite_rows(server, "SELECT id, secret FROM signing_keys ORDER BY id DESC LIMIT 1")
    return kid, secret.encode()


def claims_for_admin(**overrides):
    now = int(time.time())
    claims = {"sub": "user:1", "src": "password", "iat": now, "exp": now + 3600, "iss": "conan-registry"}
    claims.update(overrides)
    return claims


def forged_tokens(server):
    kid, key = signing_key(server)
    header = {"alg": "HS256", "typ": "JWT", "kid": str(kid)}
    now = int(time.time())
    valid = jwt(header, claims_for_admin(), key)
    head, payload, signature = valid.split(".")
    return {
        "flipped-signature": f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        "swapped-payload": f"{head}.{b64url(json.dumps(claims_for_admin(sub='user:2')).encode())}.{signature}",
        "expired": jwt(header, claims_for_admin(iat=now - 7200, exp=now - 3600), key),
        "expired-a-second-ago": jwt(header, claims_for_admin(exp=now - 1), key),
        "alg-none": jwt({"alg": "none", "typ": "JWT", "kid": str(kid)}, claims_for_admin(), None),
        "alg-none-signed": jwt({"alg": "none", "typ": "JWT", "kid": str(kid)}, claims_for_admin(), None) + signature,
        "alg-hs512": jwt({"alg": "HS512", "typ": "JWT", "kid": str(kid)}, claims_for_admin(), key),
        "other-key": jwt(header, claims_for_admin(), b"another key, not the server's" * 2),
        "empty-key": jwt(header, claims_for_admin(), b""),
        "unknown-kid": jwt({"alg": "HS256", "typ": "JWT", "kid": "999"}, claims_for_admin(), key),
        "no-kid": jwt({"alg": "HS256", "typ": "JWT"}, claims_for_admin(), key),
        "other-issuer": jwt(header, claims_for_admin(iss="gitlab"), key),
        "no-exp": jwt(header, {k: v for k, v in claims_for_admin().items() if k != "exp"}, key),
        "exp-as-text": jwt(header, claims_for_admin(exp="never"), key),
        "unknown-user": jwt(header, claims_for_admin(sub="user:99999"), key),
        "sub-garbage": jwt(header, claims_for_admin(sub="user:../1"), key),
        "deploy-src-mismatch": jwt(header, claims_for_admin(sub="deploy:1", src="deploy:2"), key),
        "pat-of-nobody": jwt(header, claims_for_admin(src="pat:99999"), key),
        "two-parts": f"{head}.{payload}",
        "garbage": "not.a.jwt",
        "huge": "a" * 6000 + "." + "b" * 6000 + "." + "c" * 6000,
    }, valid


def test_the_forging_helper_makes_tokens_the_server_accepts(hostile):
    """The positive control: with the server's own key and valid claims the token works, so the
    refusals below are about what each case changes."""
    _, valid = forged_tokens(hostile)
    response = rawhttp.request(hostile.url, "GET", f"{PROJECT}/v2/users/check_credentials", [("Authorization", f"Bearer {valid}")])
    assert response.status == 200 and response.text == "admin", response


@pytest.mark.parametrize("case", [
    "flipped-signature", "swapped-payload", "expired", "expired-a-second-ago", "alg-none", "alg-none-signed", "alg-hs512",
    "other-key", "empty-key", "unknown-kid", "no-kid", "other-issuer", "no-exp", "exp-as-text", "unknown-user",
    "sub-garbage", "deploy-src-mismatch", "pat-of-nobody", "two-parts", "garbage", "huge",
])
def test_bad_jwts(hostile, case):
    tokens, _ = forged_tokens(hostile)
    header = ("Authorization", f"Bearer {tokens[case]}")
    rrev = hostile.seeds[PROJECT]["rrev"]
    with Unchanged(hostile):
        for method, target in [
            ("GET", f"{PROJECT}/v2/users/check_credentials"),
            ("GET", f"{INSTANCE}/v1/users/authenticate"),
            ("GET", f"{PROJECT}/v2/conans/seed/1.0/_/_/latest"),
            ("PUT", upload_target(hostile)),
            ("DELETE", f"{PROJECT}/v2/conans/seed/1.0/_/_/revisions/{rrev}"),
        ]:
            response = rawhttp.request(hostile.url, method, target, [header], b"x" if method == "PUT" else b"")
            assert_refused(response, statuses=(401,))


def test_tokens_of_revoked_sources_and_disabled_users(hostile):
    server = hostile
    server.admin("user", "create", "mallory", "--password-stdin", stdin="mallory-password\n")
    server.admin("member", "add", "demo/packages", "mallory", "maintainer")
    created = server.admin("token", "create", "mallory", "--scope", "api").stdout
    pat = next(word for word in created.split() if word.startswith("crpat-"))
    login = f"{server.url}{PROJECT}/v2/users/authenticate"
    from_password = requests.get(login, auth=("mallory", "mallory-password"), timeout=30).text
    from_pat = requests.get(login, auth=("mallory", pat), timeout=30).text
    rrev = server.seeds[PROJECT]["rrev"]
    check = f"{PROJECT}/v2/users/check_credentials"
    for token in (from_password, from_pat, pat):
        response = rawhttp.request(server.url, "GET", check, [("Authorization", f"Bearer {token}")])
        assert response.status == 200 and response.text == "mallory", response

    token_id = re.search(r"created token (\d+)", created).group(1)
    server.admin("token", "revoke", token_id)
    with Unchanged(server):
        for token in (from_pat, pat):
            for method, target in [("GET", check), ("PUT", upload_target(server)), ("DELETE", f"{PROJECT}/v2/conans/seed/1.0/_/_/revisions/{rrev}")]:
                response = rawhttp.request(server.url, method, target, [("Authorization", f"Bearer {token}")], b"x" if method == "PUT" else b"")
                assert_refused(response, statuses=(401,))
        response = rawhttp.request(server.url, "GET", check, [("Authorization", f"Bearer {from_password}")])
        assert response.status == 200, "revoking a token leaves password logins alone"

    server.admin("user", "disable", "mallory")
    with Unchanged(server):
        for header in (f"Bearer {from_password}", basic(b"mallory:mallory-password")):
            for method, target in [("GET", check), ("GET", f"{PROJECT}/v2/users/authenticate"), ("PUT", upload_target(server)), ("DELETE", f"{PROJECT}/v2/conans/seed/1.0/_/_/revisions/{rrev}")]:
                response = rawhttp.request(server.url, method, target, [("Authorization", header)], b"x" if method == "PUT" else b"")
                assert_refused(response, statuses=(401,))


# ---------------------------------------------------------------------------------------------
# GitLab's Packages API (/api/v4/projects/:id/packages...): hostile ids, bodies and encodings.
# Its errors are GitLab's REST bodies ({"message": ...} or {"error": ...}), not the Conan routes'.

REST = "/api/v4/projects/1/packages"
CLEANUP = f"{REST}/cleanup_policy"


@pytest.fixture(scope="module")
def rest(hostile):
    """An admin personal access token with the `api` scope, and one protection rule to PATCH."""
    created = hostile.admin("token", "create", "admin", "--scope", "api").stdout
    token = next(word for word in created.split() if word.startswith("crpat-"))
    response = requests.post(f"{hostile.url}{REST}/protection/rules", headers={"PRIVATE-TOKEN": token},
                             json={"package_name_pattern": "hostile-*", "package_type": "conan",
                                   "minimum_access_level_for_push": "maintainer"}, timeout=30)
    assert response.status_code == 201, response.text
    return {"token": token, "rule": response.json()["id"],
            "package": requests.get(f"{hostile.url}{REST}", headers={"PRIVATE-TOKEN": token}, timeout=30).json()[0]["id"]}


def assert_rest_refused(response, statuses):
    assert response is not None, "the server closed the connection without answering"
    assert response.status in statuses, response
    assert response.headers.get("content-type") == "application/json", response
    body = response.json()
    assert body.get("message") or body.get("error"), body


@pytest.mark.parametrize("case", sorted(JSON_BODIES))
def test_rest_malformed_json_bodies(hostile, rest, case):
    """Protection-rule and cleanup-policy bodies: malformed, nested past the parser's depth,
    non-objects, huge numbers, wrong types: a 400 and no rule or policy created or changed."""
    headers = [("PRIVATE-TOKEN", rest["token"]), ("Content-Type", "application/json")]
    targets = [("POST", f"{REST}/protection/rules"), ("PATCH", f"{REST}/protection/rules/{rest['rule']}"),
               ("POST", f"{CLEANUP}/dry_run")]
    if case != "empty":
        # No body is an empty object, which PUT saves as it is (test_cleanup.py).
        targets.append(("PUT", CLEANUP))
    with Unchanged(hostile):
        for method, target in targets:
            response = rawhttp.request(hostile.url, method, target, headers, JSON_BODIES[case])
            if method == "PATCH" and case in ("empty", "wrong-types", "traversal-ids"):
                # No body, or a JSON object naming no field of a rule: GitLab's PATCH changes
                # nothing and answers the rule as it is.
                assert response.status == 200, response
                continue
            if target.endswith("/dry_run") and case == "empty":
                # The saved policy, which has no rule: nothing to remove, nothing changed.
                assert response.status == 200 and response.json()["items"] == [], response
                continue
            assert_rest_refused(response, (400,))


@pytest.mark.parametrize("size", [16 * 1024 + 1, 300 * 1024, MAX_UPLOAD + 1])
def test_rest_oversized_rule_bodies(hostile, rest, size):
    body = b'{"package_name_pattern": "' + b"a" * size + b'"}'
    headers = [("PRIVATE-TOKEN", rest["token"]), ("Content-Type", "application/json")]
    with Unchanged(hostile):
        response = rawhttp.request(hostile.url, "POST", f"{REST}/protection/rules", headers, body)
        assert response is not None and response.status in (400, 413), response


REST_IDS = ["-1", "0", "99999999999999999999999", "1e3", "0x10", "%00", "..%2f..%2fetc", "1%2f..%2f2",
            "abc", "%ff", "%201", "1%20", "1.0", "a" * 2000]


@pytest.mark.parametrize("bad", REST_IDS, ids=lambda bad: bad[:16])
def test_rest_ids_that_name_nothing(hostile, rest, bad):
    """Package, file and rule ids that are not ids (or name nothing): a 4xx with GitLab's body
    on every route and method, nothing deleted or changed."""
    token = ("PRIVATE-TOKEN", rest["token"])
    package = rest["package"]
    targets = [
        ("GET", f"{REST}/{bad}"), ("GET", f"{REST}/{bad}/package_files"), ("DELETE", f"{REST}/{bad}"),
        ("DELETE", f"{REST}/{package}/package_files/{bad}"), ("DELETE", f"{REST}/{bad}/package_files/1"),
        ("PATCH", f"{REST}/protection/rules/{bad}"), ("DELETE", f"{REST}/protection/rules/{bad}"),
        ("GET", f"/api/v4/projects/{bad}/packages"), ("GET", f"/api/v4/groups/{bad}/packages"),
        ("DELETE", f"/api/v4/projects/{bad}/packages/{package}"),
        ("GET", f"/api/v4/projects/{bad}/packages/cleanup_policy"), ("PUT", f"/api/v4/projects/{bad}/packages/cleanup_policy"),
        ("POST", f"/api/v4/projects/{bad}/packages/cleanup_policy/dry_run"),
        ("POST", f"/api/v4/projects/{bad}/packages/cleanup_policy/runs"),
        ("GET", f"/api/v4/projects/{bad}/packages/cleanup_policy/runs"),
        ("GET", f"{CLEANUP}/runs/{bad}"), ("GET", f"{CLEANUP}/runs/{bad}/removals"),
    ]
    bodies = {"PATCH": b'{"minimum_access_level_for_push": "owner"}', "PUT": b'{"keep_n_recipe_revisions": 7}'}
    with Unchanged(hostile):
        for method, target in targets:
            body = bodies.get(method, b"")
            response = rawhttp.request(hostile.url, method, target, [token, ("Content-Type", "application/json")], body)
            assert_rest_refused(response, (400, 404))


@pytest.mark.parametrize("target", [
    "/api/v4/projects/demo%ff/packages", "/api/v4/groups/d%c0%afmo/packages",
    b"/api/v4/projects/de\xffmo%2fpackages/packages",
    "/api/v4/projects/1/packages?package_name=%ff%fe", "/api/v4/projects/1/packages?order_by=%00",
    "/api/v4/projects/1/packages?page=%ff&per_page=%c0%af", "/api/v4/projects/1?statistics=%ff",
    "/api/v4/projects/1?statistics=maybe",
], ids=lambda target: str(target)[:40])
def test_rest_invalid_utf8(hostile, rest, target):
    with Unchanged(hostile):
        response = rawhttp.request(hostile.url, "GET", target, [("PRIVATE-TOKEN", rest["token"])])
        assert response is not None and 400 <= response.status < 500, response


# Cleanup-policy values the API refuses: a 400 naming the field, for a PUT and for a dry run that
# tries them, and nothing saved (not even the valid fields of the same body).
CLEANUP_VALUES = [
    ({"keep_n_recipe_revisions": 0}, "keep_n_recipe_revisions must be between 1 and 10000"),
    ({"keep_n_recipe_revisions": 10_001}, "keep_n_recipe_revisions must be between 1 and 10000"),
    ({"keep_n_recipe_revisions": -1}, "keep_n_recipe_revisions is invalid"),
    ({"keep_n_recipe_revisions": 4_294_967_297}, "keep_n_recipe_revisions is invalid"),
    ({"keep_n_recipe_revisions": 1.5}, "keep_n_recipe_revisions is invalid"),
    ({"keep_n_recipe_revisions": "2"}, "keep_n_recipe_revisions is invalid"),
    ({"keep_n_package_revisions": True}, "keep_n_package_revisions is invalid"),
    ({"unused_days": 36_501}, "unused_days must be between 1 and 36500"),
    ({"cadence": "2d"}, "cadence is invalid"),
    ({"cadence": None}, "cadence is invalid"),
    ({"enabled": "yes"}, "enabled is invalid"),
    ({"keep_n_duplicated_package_files": "2"}, "keep_n_duplicated_package_files is invalid"),
    ({"include": "zlib/*"}, "include is invalid"),
    ({"include": [""]}, "include patterns are 1 to 200 bytes"),
    ({"exclude": ["x" * 201]}, "exclude patterns are 1 to 200 bytes"),
    ({"exclude": ["x"] * 21}, "exclude holds at most 20 patterns"),
    ({"include": None}, "include is invalid"),
    ({"next_run_at": None}, "policy has no field \"next_run_at\""),
    ({"keep_n_recipe_revisions": 2, "cadence": "2d"}, "cadence is invalid"),
]


@pytest.mark.parametrize("body,error", CLEANUP_VALUES, ids=[str(body)[:40] for body, _ in CLEANUP_VALUES])
def test_rest_cleanup_policy_values(hostile, rest, body, error):
    headers = [("PRIVATE-TOKEN", rest["token"]), ("Content-Type", "application/json")]
    with Unchanged(hostile):
        for method, target in (("PUT", CLEANUP), ("POST", f"{CLEANUP}/dry_run")):
            response = rawhttp.request(hostile.url, method, target, headers, json.dumps(body).encode())
            assert_rest_refused(response, (400,))
            assert list(response.json()) == ["error"] and response.json()["error"].startswith(error), response


def test_rest_cleanup_query_parameters(hostile, rest):
    headers = [("PRIVATE-TOKEN", rest["token"])]
    with Unchanged(hostile):
        for limit in ("0", "1001", "x", "-1", "1e3", "99999999999999999999", "%ff"):
            response = rawhttp.request(hostile.url, "POST", f"{CLEANUP}/dry_run?limit={limit}", headers)
            assert_rest_refused(response, (400,))
            assert "limit" in response.json()["error"], response
        for query in ("page=x", "page=99999999999999999999", "per_page=%ff"):
            response = rawhttp.request(hostile.url, "GET", f"{CLEANUP}/runs/1/removals?{query}", headers)
            assert_rest_refused(response, (400,))


def test_rest_cleanup_routes_refuse_who_may_not_administer(hostile, rest):
    """A private project's cleanup policy is 404 to outsiders, 403 to developers, 401 to anonymous
    callers and to deploy tokens; a `read_api` token may read and dry-run, never change or start."""
    server = hostile
    server.admin("user", "create", "cleanup-outsider", "--password-stdin", stdin="cleanup-outsider-1\n")
    server.admin("user", "create", "cleanup-dev", "--password-stdin", stdin="cleanup-dev-1\n")
    server.admin("member", "add", "demo/packages", "cleanup-dev", "developer")

    def token(user, scope="api"):
        created = server.admin("token", "create", user, "--scope", scope).stdout
        return next(word for word in created.split() if word.startswith("crpat-"))

    deploy = server.admin("deploy-token", "create", "demo/packages", "--username", "cleanup-ci",
                          "--scope", "write-package-registry").stdout.strip().splitlines()[-1]
    callers = {
        "outsider": ([("PRIVATE-TOKEN", token("cleanup-outsider"))], 404),
        "developer": ([("PRIVATE-TOKEN", token("cleanup-dev"))], 403),
        "anonymous": ([], 401),
        "deploy token": ([("Authorization", "Basic " + base64.b64encode(f"cleanup-ci:{deploy}".encode()).decode())], 401),
    }
    reader = [("PRIVATE-TOKEN", token("admin", "read-api"))]
    routes = [("GET", CLEANUP), ("PUT", CLEANUP), ("POST", f"{CLEANUP}/dry_run"), ("GET", f"{CLEANUP}/runs"),
              ("POST", f"{CLEANUP}/runs"), ("GET", f"{CLEANUP}/runs/1"), ("GET", f"{CLEANUP}/runs/1/removals")]
    body = b'{"keep_n_recipe_revisions": 1}'
    with Unchanged(server):
        for name, (headers, status) in callers.items():
            for method, target in routes:
                response = rawhttp.request(server.url, method, target, [*headers, ("Content-Type", "application/json")], body)
                assert_rest_refused(response, (status,))
                if status == 404:
                    assert response.json() == {"message": "404 Project Not Found"}, (name, target, response)
        for method, target in routes:
            response = rawhttp.request(server.url, method, target, [*reader, ("Content-Type", "application/json")], body)
            if method in ("PUT", "POST") and not target.endswith("/dry_run"):
                assert_rest_refused(response, (403,))
                assert response.json()["error"] == "insufficient_scope", response
            else:
                # No run 1 exists; the rest reads.
                assert response.status == (404 if "/runs/1" in target else 200), (target, response)


# ---------------------------------------------------------------------------------------------
# Login rate limiting (its own server: small limits, a short window).

WINDOW = 5


@pytest.fixture
def limited(tmp_path):
    server = Server(tmp_path / "data", {
        "CONAN_REGISTRY__AUTH__LOGIN_MAX_FAILURES_PER_USER": "3",
        "CONAN_REGISTRY__AUTH__LOGIN_MAX_FAILURES_PER_ADDRESS": "6",
        "CONAN_REGISTRY__AUTH__LOGIN_FAILURE_WINDOW_SECS": str(WINDOW),
    })
    try:
        for name in ("alice", "bob", "carol"):
            server.admin("user", "create", name, "--password-stdin", stdin=f"{name}-password\n")
        yield server
    finally:
        server.stop()


def login_from(server, source, user, password, extra=()):
    header = ("Authorization", basic(f"{user}:{password}".encode()))
    return rawhttp.request(server.url, "GET", f"{PROJECT}/v2/users/authenticate", [header, *extra], source=(source, 0))


def test_failed_logins_are_rate_limited_per_user_and_per_address(limited, tmp_path):
    server = limited
    here, there, elsewhere, client = "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"
    conan = Conan(CONAN2_VERSIONS[0], tmp_path / "conan-home")
    conan.run("remote", "add", "registry", server.project_remote())
    with Unchanged(server):
        for _ in range(3):
            assert login_from(server, here, "alice", "guess").status == 401
        for source in (here, there):
            response = login_from(server, source, "alice", "alice-password")
            assert_refused(response, statuses=(429,), mentions="too many failed login attempts")
            assert 1 <= int(response.headers["retry-after"]) <= WINDOW
        # Bob logs in from the same address; that does not clear alice's count.
        assert login_from(server, here, "bob", "bob-password").status == 200
        assert login_from(server, here, "alice", "alice-password").status == 429

        # Six failures from one address block it for every name; X-Forwarded-For changes nothing.
        for name in ("n1", "n2", "n3", "n4", "n5", "bob"):
            assert login_from(server, elsewhere, name, "guess").status == 401
        assert login_from(server, elsewhere, "bob", "bob-password").status == 429
        spoofed = login_from(server, elsewhere, "bob", "bob-password", [("X-Forwarded-For", "198.51.100.9")])
        assert spoofed.status == 429
        # Basic credentials on data routes count the same way.
        response = rawhttp.request(server.url, "GET", f"{PROJECT}/v2/users/check_credentials",
                                   [("Authorization", basic(b"bob:bob-password"))], source=(elsewhere, 0))
        assert response.status == 429
        assert login_from(server, there, "bob", "bob-password").status == 200

        for _ in range(3):
            assert login_from(server, client, "carol", "guess").status == 401
        assert login_from(server, client, "carol", "carol-password").status == 429

    # The real Conan client honours Retry-After on a 429 (urllib3 retries GETs that carry it): a
    # blocked login with the right password waits until the window ends, then succeeds.
    started = time.time()
    conan.run("remote", "login", "registry", "carol", "-p", "carol-password")
    assert time.time() - started >= WINDOW - 2.5, "the client did not wait for Retry-After"
    # By then the other windows have passed too.
    assert login_from(server, here, "alice", "alice-password").status == 200
    assert login_from(server, elsewhere, "bob", "bob-password").status == 200


# ---------------------------------------------------------------------------------------------
# The web interface's forms: hostile bodies to every form, signed in as the administrator (with
# a valid CSRF token, so the body itself is what is refused): a 4xx page, nothing changed.

SEED_RECIPE = "/-/web/projects/demo/packages/-/recipes/seed/1.0/_/_"
WEB_FORMS = [
    "/-/web/sign-in",
    "/-/web/user/tokens",
    # Ids no token has: revoking takes no field, so a real token would be revoked by any body.
    "/-/web/user/tokens/999999/revoke",
    "/-/web/admin/users",
    "/-/web/admin/users/1/admin",
    "/-/web/admin/projects",
    "/-/web/projects/demo/packages/-/settings/members",
    "/-/web/projects/demo/packages/-/settings/members/remove",
    "/-/web/projects/demo/packages/-/settings/visibility",
    # Only the form that takes fields: `remote/clear` takes none, so any body clears.
    "/-/web/projects/demo/packages/-/settings/remote",
    "/-/web/projects/demo/packages/-/settings/deploy-tokens",
    "/-/web/projects/demo/packages/-/settings/deploy-tokens/999999/revoke",
    "/-/web/projects/demo/packages/-/settings/cleanup",
    "/-/web/projects/demo/packages/-/settings/cleanup/dry-run",
    SEED_RECIPE + "/revisions/" + "0" * 32 + "/delete",
    "/-/web/projects/demo/..%2F..%2Fetc/-/settings/visibility",
]


def web_session(server):
    """Signs the administrator in through the form; the session cookie and the CSRF token of
    its forms."""
    session = requests.Session()
    form = session.get(f"{server.url}/-/web/sign-in", timeout=30).text
    token = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', form).group(1)
    answer = session.post(f"{server.url}/-/web/sign-in", allow_redirects=False, timeout=30,
                          data={"csrf_token": token, "username": "admin", "password": ADMIN_PASSWORD})
    assert answer.status_code == 303, answer.text
    home = session.get(f"{server.url}/", timeout=30).text
    token = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', home).group(1)
    return session.cookies["conan_registry_session"], token


WEB_BODIES = {
    "not-utf8": b"name=\xff\xfe&username=\xc3\x28&scopes=api&path=\xff&role=owner&visibility=public",
    "bad-escapes": b"name=%zz%&username=%&scopes=%G1&path=%%%&role=%0",
    "nul-and-controls": b"name=a%00b&username=ad%00min&path=team%00x&role=owner%0A&visibility=public%0D",
    "traversal": b"name=..%2F..%2Fx&username=..%2F..%2Fadmin&path=..%2F..%2Fetc&role=owner&visibility=..",
    "huge-values": b"name=" + b"n" * 200_000 + b"&username=" + b"u" * 30_000 + b"&path=" + b"p" * 20_000,
    "many-fields": b"&".join(b"scopes=api" for _ in range(20_000)),
    "oversized": b"name=" + b"x" * (300 * 1024),
    "markup": b"name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&username=%3Cimg%20src%3Dx%3E&role=%22%3E&visibility=%3Cb%3E",
}


@pytest.mark.parametrize("case", sorted(WEB_BODIES))
def test_hostile_web_form_bodies_change_nothing(hostile, case):
    cookie, token = web_session(hostile)
    # Two fields every body carries make the forms that take any text (a user name may hold
    # `/` and markup; a cleanup form without rules is a valid policy) refuse it too: a
    # too-short password and a negative count.
    body = f"csrf_token={token}&".encode() + WEB_BODIES[case] + b"&password=x&keep_n_recipe_revisions=-1"
    headers = [("Cookie", f"conan_registry_session={cookie}"),
               ("Content-Type", "application/x-www-form-urlencoded")]
    with Unchanged(hostile):
        for target in WEB_FORMS:
            response = rawhttp.request(hostile.url, "POST", target, headers, body)
            assert response is not None, f"{target}: no answer"
            assert 400 <= response.status < 500, (target, response)
            if response.status != 413:
                # Our own page (actix-web's payload limit answers a plain 413 before the form is read).
                assert response.headers.get("content-type") == "text/html; charset=utf-8", (target, response)
                assert b"<script>" not in response.body and b"<img src=x>" not in response.body, target
    assert requests.get(f"{hostile.url}/", timeout=30).status_code == 200
