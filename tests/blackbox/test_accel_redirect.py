"""`api.accel_redirect`: the registry behind a real nginx (Debian's, as scripts/test-all installs
it), which sends the files the registry names in `X-Accel-Redirect` from the blob directory.

The real Conan 2 client uploads and installs through nginx; the registry still decides every
download (a private project's file is a 404 to an outsider), and no client can reach the blob
directory itself.
"""

import hashlib
import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, files_under, write_recipe

REMOTE = "behind-nginx"
LOCATION = "/_conan_blobs/"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nginx_binary():
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not found:
        pytest.fail("nginx is missing: scripts/test-all installs Debian's nginx")
    return found


@pytest.fixture
def behind_nginx(make_server, tmp_path):
    """A registry with `accel_redirect` set and nginx in front of it: (server, nginx URL)."""
    server = make_server({"CONAN_REGISTRY__API__ACCEL_REDIRECT": LOCATION})
    blobs = server.data_dir / "blobs"
    assert blobs.is_dir()
    directory = tmp_path / "nginx"
    directory.mkdir()
    port = free_port()
    upstream = server.url.removeprefix("http://")
    (directory / "nginx.conf").write_text(f"""
daemon off;
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://{upstream};
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
        }}
        location {LOCATION} {{
            internal;
            alias {blobs}/;
            default_type application/octet-stream;
            types {{ }}
        }}
    }}
}}
""")
    process = subprocess.Popen([nginx_binary(), "-p", str(directory), "-c", str(directory / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"nginx did not start: {process.stderr.read() if process.stderr else ''}")
                time.sleep(0.05)
        yield server, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_conan_uploads_and_installs_through_nginx_sending_the_files(behind_nginx, conan2_client, tmp_path):
    server, front = behind_nginx
    remote = f"{front}/api/v4/projects/1/packages/conan"
    producer = conan2_client()
    producer.run("remote", "add", REMOTE, remote)
    producer.run("remote", "login", REMOTE, "admin", "-p", ADMIN_PASSWORD)
    recipe = write_recipe(tmp_path / "hello", source="int answer = 42;\n" * 5000)
    producer.run("create", str(recipe), "-s", "arch=x86_64")
    producer.run("upload", "hello/1.0", "-r", REMOTE, "-c")
    package = next(iter(producer.json("list", "hello/1.0:*")["Local Cache"]["hello/1.0"]["revisions"].values()))
    rrev = next(iter(producer.json("list", "hello/1.0#*")["Local Cache"]["hello/1.0"]["revisions"]))
    package_id = next(iter(package["packages"]))

    consumer = conan2_client()
    consumer.run("remote", "add", REMOTE, remote)
    consumer.run("remote", "login", REMOTE, "admin", "-p", ADMIN_PASSWORD)
    consumer.run("install", "--requires=hello/1.0", "-r", REMOTE, "-s", "arch=x86_64")
    reference = f"hello/1.0#{rrev}:{package_id}"
    assert files_under(consumer.cache_path(reference)) == files_under(producer.cache_path(reference))
    # The bytes came from nginx: the registry answered each download with an empty body.
    token = requests.get(f"{remote}/v2/users/authenticate", auth=("admin", ADMIN_PASSWORD), timeout=30).text
    files = f"{remote}/v2/conans/hello/1.0/_/_/revisions/{rrev}/files"
    direct = requests.get(f"{files.replace(front, server.url)}/conanfile.py",
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert direct.status_code == 200 and direct.content == b""
    assert direct.headers["X-Accel-Redirect"].startswith(f"{LOCATION}sha256/")


def test_nginx_sends_whole_files_and_ranges_and_only_what_the_registry_allows(behind_nginx):
    server, front = behind_nginx
    remote = f"{front}/api/v4/projects/1/packages/conan"
    token = requests.get(f"{remote}/v2/users/authenticate", auth=("admin", ADMIN_PASSWORD), timeout=30).text
    auth = {"Authorization": f"Bearer {token}"}
    revision = f"{remote}/v2/conans/big/1.0/_/_/revisions/{'a' * 32}/files"
    content = os.urandom(3 * 1024 * 1024 + 17)
    conanfile = b"from conan import ConanFile\n"
    manifest = f"1700000000\nconanfile.py: {hashlib.md5(conanfile).hexdigest()}\n".encode()
    for name, data in (("conanfile.py", conanfile), ("conan_sources.tgz", content), ("conanmanifest.txt", manifest)):
        put = requests.put(f"{revision}/{name}", data=data, headers=auth, timeout=60)
        assert put.status_code in (200, 201), (put.status_code, put.text)

    whole = requests.get(f"{revision}/conan_sources.tgz", headers=auth, timeout=60)
    assert whole.status_code == 200
    assert whole.content == content
    assert int(whole.headers["Content-Length"]) == len(content)
    assert "X-Accel-Redirect" not in whole.headers, "nginx consumes the header"

    part = requests.get(f"{revision}/conan_sources.tgz", headers={**auth, "Range": "bytes=1000-1999"}, timeout=60)
    assert part.status_code == 206
    assert part.content == content[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(content)}"

    # The registry decides: the default project is private, so a caller without a token gets no
    # file and nginx never reads one.
    anonymous = requests.get(f"{revision}/conan_sources.tgz", timeout=60)
    assert anonymous.status_code in (401, 404), anonymous.status_code
    assert content[:64] not in anonymous.content
    missing = requests.get(f"{revision}/nothing.tgz", headers=auth, timeout=60)
    assert missing.status_code == 404
    # And the blob directory is no URL of its own.
    direct = requests.get(f"{server.url}{revision.removeprefix(front)}/conan_sources.tgz", headers=auth, timeout=60)
    location = direct.headers["X-Accel-Redirect"]
    assert (server.data_dir / "blobs" / location.removeprefix(LOCATION)).read_bytes() == content
    for probe in (f"{front}{location}", f"{front}{LOCATION}", f"{front}{LOCATION}sha256/"):
        refused = requests.get(probe, headers=auth, timeout=30)
        assert refused.status_code == 404, (probe, refused.status_code)
        assert content[:64] not in refused.content
