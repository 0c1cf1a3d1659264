"""The real Conan 1.66 client against the real server: without revisions through the v1 routes,
and with CONAN_REVISIONS_ENABLED=1 through the v2 routes, at both prefixes."""

import json
import os
import pathlib
import subprocess

import pytest

from conftest import ADMIN_PASSWORD, VENVS
from registry_api import Api

REMOTE = "registry"

RECIPE1 = '''
from conans import ConanFile


class Pkg(ConanFile):
    name = "{name}"
    version = "1.0"
    settings = "os", "arch"
    exports_sources = "src/*"

    def package(self):
        self.copy("*", src="src", dst="src")
        open("marker.txt", "w").write("built for " + str(self.settings.arch))
        self.copy("marker.txt")
'''


class Conan1:
    """The Conan 1 client with its own user home."""

    def __init__(self, home, revisions):
        self.executable = VENVS / "conan-1.66.0" / "bin" / "conan"
        if not self.executable.exists():
            raise RuntimeError(f"{self.executable} is missing: run scripts/test-venvs")
        self.home = pathlib.Path(home)
        self.env = dict(os.environ)
        self.env.update({"CONAN_USER_HOME": str(self.home), "CONAN_NON_INTERACTIVE": "1"})
        self.env["CONAN_REVISIONS_ENABLED"] = "1" if revisions else "0"
        self.run("config", "init")
        self.run("profile", "new", "default", "--detect", "--force")
        # Nothing here may reach the internet.
        self.run("remote", "clean")

    def run(self, *args, check=True, cwd=None):
        workdir = pathlib.Path(cwd or self.home / "work")
        workdir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [str(self.executable), *args], capture_output=True, text=True, env=self.env, cwd=workdir
        )
        if check and result.returncode != 0:
            raise AssertionError(f"conan {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def fail(self, *args):
        result = self.run(*args, check=False)
        assert result.returncode != 0, f"conan {' '.join(args)} succeeded:\n{result.stdout}"
        return result

    def package_folder(self, reference, package_id):
        return self.home / ".conan" / "data" / reference.replace("@", "/") / "package" / package_id


def write_recipe1(directory, name="hello"):
    directory = pathlib.Path(directory)
    (directory / "src").mkdir(parents=True, exist_ok=True)
    (directory / "src" / "answer.c").write_text("int answer = 42;\n")
    (directory / "conanfile.py").write_text(RECIPE1.format(name=name))
    return directory


@pytest.fixture(params=[False, True], ids=["v1", "revisions"])
def revisions(request):
    return request.param


@pytest.fixture
def conan1(tmp_path_factory, revisions):
    return Conan1(tmp_path_factory.mktemp("conan1-home"), revisions)


@pytest.mark.parametrize("prefix", ["project", "instance"])
def test_conan1_round_trip(server, conan1, tmp_path_factory, tmp_path, revisions, prefix):
    url = server.project_remote() if prefix == "project" else server.instance_remote()
    user_channel = "demo+packages/stable" if prefix == "instance" else "team/stable"
    reference = f"hello/1.0@{user_channel}"

    conan1.run("remote", "add", REMOTE, url)
    wrong = conan1.fail("user", "admin", "-p", "wrong-password", "-r", REMOTE)
    assert "Wrong user or password" in wrong.stdout + wrong.stderr
    conan1.run("user", "admin", "-p", ADMIN_PASSWORD, "-r", REMOTE)

    recipe = write_recipe1(tmp_path / "recipe")
    for arch in ("x86_64", "armv8"):
        conan1.run("create", str(recipe), user_channel, "-s", f"arch={arch}")
    conan1.run("upload", reference, "--all", "-r", REMOTE, "--confirm")

    # The v1 snapshots list each file's md5 exactly as the client computed it on upload (kept in
    # its metadata.json). Uploads store no md5: the server computes it from the blobs on the
    # first request, and answers the second from the store.
    user, channel = user_channel.split("/")
    layout = conan1.home / ".conan" / "data" / "hello" / "1.0" / user / channel
    uploaded = json.loads((layout / "metadata.json").read_text())
    expected = {f"{url}/v1/conans/hello/1.0/{user}/{channel}": uploaded["recipe"]["checksums"]}
    for package_id, package in uploaded["packages"].items():
        expected[f"{url}/v1/conans/hello/1.0/{user}/{channel}/packages/{package_id}"] = package["checksums"]
    assert len(expected) == 3, expected
    api = Api.login(server, base=url)
    for _ in range(2):
        for snapshot_url, checksums in expected.items():
            response = api.get(snapshot_url)
            assert response.status_code == 200, response.text
            assert response.json() == {name: sums["md5"] for name, sums in checksums.items()}

    found = conan1.run("search", "hello*", "-r", REMOTE).stdout
    assert reference in found, found
    conan1.run("search", reference, "-r", REMOTE, "--json", str(tmp_path / "s.json"))
    packages = json.loads((tmp_path / "s.json").read_text())
    items = packages["results"][0]["items"][0]["packages"]
    assert sorted(p["settings"]["arch"] for p in items) == ["armv8", "x86_64"]
    filtered = conan1.run("search", reference, "-r", REMOTE, "-q", "arch=armv8").stdout
    assert "armv8" in filtered and "x86_64" not in filtered

    fresh = Conan1(tmp_path_factory.mktemp("conan1-fresh"), revisions)
    fresh.run("remote", "add", REMOTE, url)
    fresh.run("user", "admin", "-p", ADMIN_PASSWORD, "-r", REMOTE)
    fresh.run("install", reference, "-r", REMOTE, "-s", "arch=x86_64")
    package_id = next(p["id"] for p in items if p["settings"]["arch"] == "x86_64")
    installed = fresh.package_folder(reference, package_id) / "marker.txt"
    original = conan1.package_folder(reference, package_id) / "marker.txt"
    assert installed.read_bytes() == original.read_bytes() == b"built for x86_64"

    conan1.run("remove", reference, "-p", package_id, "-r", REMOTE, "-f")
    left = conan1.run("search", reference, "-r", REMOTE).stdout
    assert package_id not in left
    conan1.run("remove", reference, "-r", REMOTE, "-f")
    gone = conan1.run("search", "hello*", "-r", REMOTE).stdout
    assert reference not in gone
