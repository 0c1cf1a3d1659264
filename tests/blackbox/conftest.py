"""Black-box test harness: the real conan-registry binary and the real Conan clients.

Each test gets a fresh server (its own data directory, a free port) and a fresh Conan home, so
nothing depends on another test's leftovers. The binary is target/debug/conan-registry (or
$CONAN_REGISTRY_BIN); the clients come from the venvs scripts/test-venvs creates.
"""

import json
import os
import pathlib
import queue
import re
import shutil
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("CONAN_REGISTRY_BIN", ROOT / "target" / "debug" / "conan-registry"))
VENVS = ROOT / "target" / "test-venv"
CONAN2_VERSIONS = os.environ.get("CONAN_REGISTRY_TEST_CONAN2", "2.34.0,2.0.17").split(",")
ADMIN_PASSWORD = "admin-password-1"


class Server:
    """A running conan-registry process."""

    def __init__(self, data_dir, extra_env=None):
        self.data_dir = pathlib.Path(data_dir)
        self.env = dict(os.environ)
        self.env.update(
            {
                "CONAN_REGISTRY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                # No background collector racing the assertions; tests run `gc` themselves.
                "CONAN_REGISTRY__GC__INTERVAL_SECS": "0",
            }
        )
        self.env.update(extra_env or {})
        self.process = subprocess.Popen(
            [str(BINARY), "serve", "--bind", "127.0.0.1:0", "--data-dir", str(self.data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        self.output = []
        lines = queue.Queue()

        def pump():
            for line in self.process.stdout:
                self.output.append(line)
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.time() + 60
        self.url = None
        while self.url is None:
            remaining = deadline - time.time()
            if remaining <= 0 or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("server did not start:\n" + "".join(self.output))
            try:
                line = lines.get(timeout=min(remaining, 1))
            except queue.Empty:
                continue
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)

    def project_remote(self, project_id=1):
        return f"{self.url}/api/v4/projects/{project_id}/packages/conan"

    def instance_remote(self):
        return f"{self.url}/api/v4/packages/conan"

    def admin(self, *args, stdin=None, check=True):
        """Runs an admin command against this server's database."""
        result = subprocess.run(
            [str(BINARY), *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            input=stdin,
            env=self.env,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"admin {args} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self):
        """SIGKILL, as a crash or the OOM killer would: no shutdown code runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def alive(self):
        return self.process.poll() is None

    def log(self):
        return "".join(self.output)


class Conan:
    """One Conan client version with its own home."""

    def __init__(self, version, home):
        self.version = version
        self.executable = VENVS / f"conan-{version}" / "bin" / "conan"
        if not self.executable.exists():
            raise RuntimeError(f"{self.executable} is missing: run scripts/test-venvs")
        self.home = pathlib.Path(home)
        self.env = dict(os.environ)
        self.env["CONAN_HOME"] = str(self.home)
        self.env.pop("CONAN_LOGIN_USERNAME", None)
        self.env.pop("CONAN_PASSWORD", None)
        self.run("profile", "detect", "--force")
        (self.home / "global.conf").write_text("core:non_interactive=True\n")
        # Nothing here may reach the internet.
        remotes = json.loads(self.run("remote", "list", "--format=json").stdout or "[]")
        for remote in remotes:
            self.run("remote", "remove", remote["name"])

    def run(self, *args, check=True, env=None, cwd=None):
        full_env = dict(self.env)
        full_env.update(env or {})
        # `conan install` writes generated files into the working directory: never the repo.
        workdir = cwd or self.home / "work"
        pathlib.Path(workdir).mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [str(self.executable), *args], capture_output=True, text=True, env=full_env, cwd=workdir
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"conan {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def fail(self, *args, env=None):
        result = self.run(*args, check=False, env=env)
        assert result.returncode != 0, f"conan {' '.join(args)} unexpectedly succeeded:\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args, env=None):
        result = self.run(*args, "--format=json", env=env)
        return json.loads(result.stdout)

    def cache_path(self, reference):
        return pathlib.Path(self.run("cache", "path", reference).stdout.strip())


@pytest.fixture
def server(tmp_path):
    instance = Server(tmp_path / "data")
    yield instance
    instance.stop()


@pytest.fixture
def make_server(tmp_path):
    """Starts servers (`make_server(env)`, `make_server(env, data_dir=...)`), all stopped at the
    end of the test; the default data directory is the test's own."""
    started = []

    def make(extra_env=None, data_dir=None):
        instance = Server(data_dir or tmp_path / "data", extra_env)
        started.append(instance)
        return instance

    yield make
    for instance in started:
        instance.stop()


@pytest.fixture(params=CONAN2_VERSIONS)
def conan(request, tmp_path_factory):
    return Conan(request.param, tmp_path_factory.mktemp("conan-home"))


@pytest.fixture
def make_conan(tmp_path_factory, conan):
    """Another client of the same version, with an empty cache."""

    def make():
        return Conan(conan.version, tmp_path_factory.mktemp("conan-home"))

    return make


@pytest.fixture
def conan2_client(tmp_path_factory):
    """Makes clients of the newest Conan 2, each with its own empty cache (`conan2_client()`),
    for tests that need several clients but not every version."""

    def make():
        return Conan(CONAN2_VERSIONS[0], tmp_path_factory.mktemp("conan-home"))

    return make


RECIPE = '''
import os
from conan import ConanFile
from conan.tools.files import save, copy


class Pkg(ConanFile):
    name = "{name}"
    version = "{version}"
    settings = "os", "arch"
    exports_sources = "src/*"
    {extra}

    def package(self):
        copy(self, "*", os.path.join(self.source_folder, "src"), os.path.join(self.package_folder, "src"))
        save(self, os.path.join(self.package_folder, "include", "{name}.h"),
             "// {name} for " + str(self.settings.arch) + "\\n")
        {package_extra}
'''


def write_recipe(directory, name="hello", version="1.0", source="int answer = 42;\n", extra="", package_extra=""):
    """Writes a recipe (with one exported source) into `directory` and returns the directory."""
    directory = pathlib.Path(directory)
    (directory / "src").mkdir(parents=True, exist_ok=True)
    (directory / "src" / "answer.c").write_text(source)
    (directory / "conanfile.py").write_text(
        RECIPE.format(name=name, version=version, extra=extra, package_extra=package_extra or "pass")
    )
    return directory


def files_under(directory):
    """Relative path -> bytes of every file below `directory` (Conan's own bookkeeping excluded)."""
    directory = pathlib.Path(directory)
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name not in ("conanmanifest.txt", "conaninfo.txt")
    }
