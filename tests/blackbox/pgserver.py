"""PostgreSQL for the black-box tests: a private server a test may stop and start (never the
shared one), and throw-away databases on the shared server.
"""

import contextlib
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid

import pytest

# Debian's PostgreSQL 15 server binaries (initdb, pg_ctl); override for other layouts.
PG_BIN = pathlib.Path(os.environ.get("CONAN_REGISTRY_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SHARED_URL = os.environ.get("CONAN_REGISTRY_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REQUIRED = os.environ.get("CONAN_REGISTRY_TEST_REQUIRE_POSTGRES") == "1"


def unavailable(reason):
    """Skips, or fails when PostgreSQL is required (CI)."""
    if REQUIRED:
        pytest.fail(f"PostgreSQL is required (CONAN_REGISTRY_TEST_REQUIRE_POSTGRES=1): {reason}")
    pytest.skip(reason)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    """A PostgreSQL server of this test alone, in a temporary directory on a free port.

    initdb refuses to run as root, so as root the server runs as the `postgres` system user
    (Debian's packages create it); the directory lives under /tmp, which that user can reach
    (pytest's own temporary directories are private to root).
    """

    def __init__(self):
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                unavailable(f"{PG_BIN / tool} is missing (Debian: apt-get install postgresql-15)")
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no `postgres` user for initdb")
        self.directory = pathlib.Path(tempfile.mkdtemp(prefix="conan-registry-pg-"))
        self.data = self.directory / "data"
        self.logfile = self.directory / "server.log"
        self.port = free_port()
        if self.user:
            os.chown(self.directory, self.user.pw_uid, self.user.pw_gid)
        self.run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )

    def run(self, *args, check=True):
        command = list(args)
        if self.user:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"{args[0]} failed:\n{result.stdout}\n{result.stderr}\n{self.server_log()}")
        return result

    def server_log(self):
        try:
            return self.logfile.read_text()
        except OSError:
            return ""

    def url(self, database="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self):
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.logfile), "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        """`fast` ends every session at once, as a stopping or restarting server does."""
        self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def running(self):
        return self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status", check=False).returncode == 0

    def psql(self, sql, database="postgres"):
        return subprocess.run(
            ["psql", self.url(database), "-qAtc", sql], capture_output=True, text=True, check=True, timeout=60
        ).stdout

    def destroy(self):
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def private_postgres():
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


def shared_psql(sql):
    subprocess.run(["psql", SHARED_URL, "-qc", sql], check=True, capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def shared_database():
    """A fresh database on the shared server, dropped afterwards; yields its URL."""
    if not shutil.which("psql"):
        unavailable("psql is not installed")
    if subprocess.run(["psql", SHARED_URL, "-qc", "SELECT 1"], capture_output=True).returncode != 0:
        unavailable(f"PostgreSQL at {SHARED_URL} does not answer")
    name = f"conan_registry_blackbox_{uuid.uuid4().hex[:12]}"
    shared_psql(f"CREATE DATABASE {name}")
    base = SHARED_URL.split("?")[0].rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        shared_psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
