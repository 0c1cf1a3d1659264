#!/usr/bin/env python3
"""End-to-end benchmark: conan-registry against the reference conan_server (and nginx, the disk).

Run it through `scripts/bench`, which installs what it needs and builds the release binary.
Every server runs on loopback on a free port with its own temporary data; everything this
script starts or creates is removed at the end, also on Ctrl-C or failure.

Sections (`--only a,b`): metadata, files, mixed, clients, memory, scale, cleanup, web, remote,
accesslog.
`--quick` shrinks the data and the durations for a smoke run of a few minutes. The figures are
printed as Markdown tables and written (with the raw numbers as JSON) to target/bench-results/.
"""

import argparse
import base64
import concurrent.futures
import contextlib
import datetime
import hashlib
import http.client
import importlib.metadata
import itertools
import json
import os
import pathlib
import random
import resource
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import requests
from reference_server import REF_CONF  # beside this file: a script's directory is on sys.path

ROOT = pathlib.Path(__file__).resolve().parents[1]
BINARY = pathlib.Path(os.environ.get("CONAN_REGISTRY_BIN", ROOT / "target" / "release" / "conan-registry"))
VENV_BIN = pathlib.Path(sys.executable).parent
CONAN = ROOT / "target" / "test-venv" / "conan-2.34.0" / "bin" / "conan"
WRK_SCRIPT = ROOT / "bench" / "wrk-paths.lua"
RESULTS = ROOT / "target" / "bench-results"
POSTGRES = os.environ.get("CONAN_REGISTRY_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

ADMIN_PASSWORD = "bench-admin-password-1"
REF_USER, REF_PASSWORD = "bench", "benchpassword"
MIB = 1 << 20
GIB = 1 << 30
SECTIONS = ["metadata", "files", "mixed", "clients", "memory", "scale", "cleanup", "web", "remote", "accesslog"]

PROFILES = {
    "full": dict(
        recipes=200, revisions=3, binaries=3, fill_threads=16, connections=32,
        wrk_seconds=8, rounds=2, big_mib=1024, streams=16, file_rounds=2, ref_file_rounds=1, upload_rounds=1,
        mixed_seconds=15, mixed_loads=[(8, 0), (16, 0), (16, 4)], mixed_connections=4,
        cli_packages=50, cli_runs=4, cli_rounds=2, memory_mib=2048,
        scale_recipes=100_000, scale_seconds=8, cleanup_recipes=100_000, cleanup_revisions=10, cleanup_work_percents=[100, 50],
        web_recipes=100_000, web_detailed=200, web_requests=300, remote_rounds=4, remote_download_rounds=16,
    ),
    "quick": dict(
        recipes=30, revisions=2, binaries=2, fill_threads=16, connections=32,
        wrk_seconds=2, rounds=1, big_mib=64, streams=16, file_rounds=1, ref_file_rounds=1, upload_rounds=1,
        mixed_seconds=4, mixed_loads=[(8, 0), (16, 4)], mixed_connections=4,
        cli_packages=20, cli_runs=1, cli_rounds=1, memory_mib=256,
        scale_recipes=10_000, scale_seconds=2, cleanup_recipes=2_000, cleanup_revisions=10, cleanup_work_percents=[100, 50],
        web_recipes=2_000, web_detailed=40, web_requests=40, remote_rounds=2, remote_download_rounds=4,
    ),
}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- processes --------------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(stack, command, log_path, env=None, cwd=None):
    """Starts `command` in its own process group, stopped (group and all) when `stack` closes."""
    out = open(log_path, "wb")
    process = subprocess.Popen(
        [str(part) for part in command], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
        start_new_session=True,
    )
    out.close()
    stack.callback(stop_process, process)
    return process


def stop_process(process, signum=signal.SIGTERM):
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Workers of a server that outlived their parent.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def children(pid):
    try:
        text = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(value) for value in text.split()]


def proc_status(pid):
    """VmRSS and VmHWM of a process, in KiB."""
    values = {}
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


def cpu_seconds(pid):
    """User plus system CPU time of a process so far, in seconds."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemoryWatch:
    """VmRSS and VmHWM of a server's processes: a snapshot at the start, then VmRSS sampled every
    20 ms until `stop`, so a peak shorter than the VmHWM's lifetime view still shows."""

    def __init__(self, server):
        self.server = server
        self.before = self.snapshot()
        self.peak_rss = {pid: values.get("VmRSS", 0) for pid, values in self.before.items()}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def snapshot(self):
        return {pid: proc_status(pid) for pid in self.server.pids()}

    def sample(self):
        while not self.stopped.is_set():
            for pid, values in self.snapshot().items():
                self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), values.get("VmRSS", 0))
            time.sleep(0.02)

    def stop(self):
        self.stopped.set()
        self.thread.join()

    def growth(self, after, key):
        """The largest growth of `key` (VmHWM, VmRSS) of one process from the start to `after`, MiB."""
        return max((after[pid].get(key, 0) - self.before.get(pid, {}).get(key, 0)) for pid in after
                   if pid in self.before) / 1024

    def at_start(self, key):
        """The largest `key` (VmRSS, VmHWM) of one process at the start, MiB."""
        return max(values.get(key, 0) for values in self.before.values()) / 1024

    def sampled_rss_growth(self):
        return max(self.peak_rss[pid] - self.before[pid].get("VmRSS", 0) for pid in self.before) / 1024


def run(command, check=True, **kwargs):
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def wait_for_log(path, pattern, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        match = re.search(pattern, text)
        if match:
            return match
        if process.poll() is not None:
            raise RuntimeError(f"{path.name}: the process exited ({process.returncode}):\n{text}")
        time.sleep(0.05)
    raise RuntimeError(f"{path.name}: no {pattern!r} after {timeout} s")


# --- the servers ------------------------------------------------------------------------------


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Server:
    """What the benchmark needs of a server: its Conan base URL, the URL path prefix, a token."""

    name = "?"

    def authenticate(self, user, password):
        response = requests.get(f"{self.base}/v2/users/authenticate",
                                headers={"Authorization": basic(user, password)}, timeout=30)
        response.raise_for_status()
        self.token = response.text.strip()

    @property
    def origin(self):
        parts = urllib.parse.urlsplit(self.base)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def prefix(self):
        return urllib.parse.urlsplit(self.base).path

    def pids(self):
        return [self.process.pid]


class Static(Server):
    """A URL on some server, fetched without credentials (nginx's static file, our health check)."""

    def __init__(self, name, origin):
        self.name = name
        self.base = origin
        self.token = ""


class Ours(Server):
    name = "ours"

    def __init__(self, stack, work, label, extra_env=None):
        self.data = work / label
        log_path = work / f"{label}.log"
        env = dict(os.environ)
        env.update({
            "CONAN_REGISTRY_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "CONAN_REGISTRY__GC__INTERVAL_SECS": "0",
        })
        env.update(extra_env or {})
        self.env = env
        self.log_path = log_path
        self.process = spawn(stack, [BINARY, "serve", "--bind", "127.0.0.1:0", "--data-dir", self.data],
                             log_path, env=env)
        url = wait_for_log(log_path, r"listening on (http://\S+)", self.process).group(1)
        self.base = f"{url}/api/v4/projects/1/packages/conan"
        self.authenticate("admin", ADMIN_PASSWORD)
        stack.callback(shutil.rmtree, self.data, True)

    def admin(self, *args, stdin=None):
        """Runs an admin command on this server's data; returns what it printed."""
        return run([BINARY, *args, "--data-dir", self.data], env=self.env, input=stdin).stdout

    def personal_token(self):
        """A new `api` personal access token of the administrator, from the admin CLI."""
        created = self.admin("token", "create", "admin", "--scope", "api")
        return next(word for word in created.split() if word.startswith("crpat-"))


class Reference(Server):
    """conan_server behind gunicorn with one sync worker per core, as its docs suggest."""

    name = "reference"

    def __init__(self, stack, work, label, workers):
        home = work / label
        home.mkdir(parents=True)
        stack.callback(shutil.rmtree, home, True)
        port = free_port()
        (home / "server.conf").write_text(REF_CONF.format(
            secret="b" * 32, updown="u" * 32, port=port, storage=home / "data", user=REF_USER,
            password=REF_PASSWORD))
        (home / "tmp").mkdir()
        # Each gunicorn worker creates the storage directory if missing, and two workers booting
        # at once race on it (one dies with FileExistsError and takes the server down).
        (home / "data").mkdir()
        env = dict(os.environ)
        env.update({"CONAN_SERVER_HOME": str(home), "TMPDIR": str(home / "tmp")})
        self.process = spawn(stack, [
            VENV_BIN / "gunicorn", "-b", f"127.0.0.1:{port}", "-w", str(workers), "-t", "900",
            "--log-level", "warning", "conans.server.server_launcher:app",
        ], work / f"{label}.log", env=env, cwd=home)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                if requests.get(f"{self.base}/v1/ping", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("conan_server did not start:\n" + (work / f"{label}.log").read_text())
            time.sleep(0.1)
        self.authenticate(REF_USER, REF_PASSWORD)

    def pids(self):
        return [self.process.pid, *children(self.process.pid)]


# --- synthetic data ---------------------------------------------------------------------------


def md5(data):
    return hashlib.md5(data).hexdigest()


def sha1(data):
    return hashlib.sha1(data).hexdigest()


class Recipe:
    """One recipe with its revisions (oldest first) and binaries, content derived from its index."""

    def __init__(self, index, revisions, binaries):
        self.name, self.version = f"pkg{index:05d}", f"1.{index % 10}.0"
        self.path = f"{self.name}/{self.version}/_/_"
        rng = random.Random(index)
        self.revisions = []  # (rrev, files, [(pkgid, prev, files)])
        for r in range(revisions):
            conanfile = (f'from conan import ConanFile\n\nclass Pkg(ConanFile):\n    name = "{self.name}"\n'
                         f'    version = "{self.version}"\n    settings = "os", "arch", "build_type"\n'
                         f"    # revision {r}\n").encode()
            export = rng.randbytes(2048)
            manifest = f"{1700000000 + r}\nconanfile.py: {md5(conanfile)}\n".encode()
            files = [("conan_export.tgz", export), ("conanfile.py", conanfile), ("conanmanifest.txt", manifest)]
            packages = []
            for b in range(binaries):
                arch = ["x86_64", "armv8", "x86", "riscv64"][b % 4]
                info = (f"[settings]\narch={arch}\nbuild_type={['Release', 'Debug'][b // 4 % 2]}\nos=Linux\n"
                        f"[options]\nshared={b % 2 == 1}\n").encode()
                tgz = rng.randbytes(8192)
                pmanifest = f"{1700000000 + r}\nconaninfo.txt: {md5(info)}\n".encode()
                pfiles = [("conan_package.tgz", tgz), ("conaninfo.txt", info), ("conanmanifest.txt", pmanifest)]
                packages.append((sha1(info), md5(pmanifest), pfiles))
            self.revisions.append((md5(manifest), files, packages))

    @property
    def latest(self):
        return self.revisions[-1]


_local = threading.local()


def session():
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


RETRIED = {}  # server name -> how many PUTs were answered 503 and sent again
_retried_lock = threading.Lock()


def put(server, url_path, data):
    """One PUT; a 503 is retried as the Conan client does (it honours Retry-After), and counted."""
    for attempt in range(1, 21):
        started = time.time()
        response = session().put(f"{server.base}/{url_path}", data=data, timeout=120, headers={
            "Authorization": f"Bearer {server.token}", "X-Checksum-Sha1": sha1(data)})
        if response.status_code != 503 or attempt == 20:
            break
        with _retried_lock:
            RETRIED.setdefault(server.name, []).append(time.time() - started)
        time.sleep(min(float(response.headers.get("Retry-After", "0") or 0), 1.0) + 0.05 * attempt)
    if response.status_code >= 300:
        raise RuntimeError(f"{server.name}: PUT {url_path} -> {response.status_code} {response.text[:200]}")


def upload_recipe(server, recipe):
    for rrev, files, packages in recipe.revisions:
        for path, data in files:
            put(server, f"v2/conans/{recipe.path}/revisions/{rrev}/files/{path}", data)
        for pkgid, prev, pfiles in packages:
            for path, data in pfiles:
                put(server, f"v2/conans/{recipe.path}/revisions/{rrev}/packages/{pkgid}/revisions/{prev}/files/{path}", data)


def fill(server, recipes, threads):
    """Uploads every recipe (revisions in order, so the last is `latest`); returns PUTs/s."""
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(upload_recipe, server, recipe) for recipe in recipes]:
            future.result()
    elapsed = time.time() - started
    with _retried_lock:
        retried = RETRIED.pop(server.name, [])
    count = sum(len(files) + sum(len(p[2]) for p in packages) for recipe in recipes for _, files, packages in recipe.revisions)
    return {"puts": count, "seconds": elapsed, "puts_per_s": count / elapsed, "retried_503": len(retried),
            "503_answer_ms_max": max(retried, default=0) * 1000}


# --- big files --------------------------------------------------------------------------------


class BigBody:
    """`size` bytes from a 64 MiB random block repeated; the first 32 bytes are `nonce`, so every
    nonce gives content no server has seen (no deduplication shortcut)."""

    block = None

    def __init__(self, size, nonce):
        if BigBody.block is None:
            BigBody.block = memoryview(random.Random(8).randbytes(64 * MIB))
        self.size, self.nonce = size, nonce.encode().ljust(32, b".")[:32]

    def chunks(self, stop=None):
        sent, step = 0, 4 * MIB
        while sent < self.size:
            if stop is not None and stop.is_set():
                raise InterruptedError("stopped")
            offset = sent % len(self.block)
            length = min(step, self.size - sent, len(self.block) - offset)
            if sent == 0:
                yield self.nonce + bytes(self.block[32:length])
            else:
                yield self.block[offset:offset + length]
            sent += length

    def sha1(self):
        digest = hashlib.sha1()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


def put_big(server, url_path, body, stop=None, sha1_hex=None):
    """Streams `body` with http.client (1 MiB socket writes); returns seconds."""
    parts = urllib.parse.urlsplit(f"{server.base}/{url_path}")
    headers = {"Content-Length": str(body.size), "Authorization": f"Bearer {server.token}"}
    if sha1_hex:
        headers["X-Checksum-Sha1"] = sha1_hex
    started = time.time()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=900, blocksize=MIB)
    try:
        connection.request("PUT", parts.path, body=body.chunks(stop), headers=headers)
        response = connection.getresponse()
        text = response.read()
    finally:
        connection.close()
    if response.status >= 300:
        raise RuntimeError(f"{server.name}: PUT {url_path} -> {response.status} {text[:200]!r}")
    return time.time() - started


def small_recipe(server, name):
    """A committed recipe revision to hang big package files from; returns its URL path and rrev."""
    recipe = Recipe(0, 1, 0)
    recipe.name, recipe.path = name, f"{name}/1.0/_/_"
    rrev, files, _ = recipe.latest
    for path, data in files:
        put(server, f"v2/conans/{recipe.path}/revisions/{rrev}/files/{path}", data)
    return f"v2/conans/{recipe.path}/revisions/{rrev}"


def package_path(recipe_path, index):
    pkgid = sha1(f"pkg{index}".encode())
    prev = md5(f"prev{index}".encode())
    return f"{recipe_path}/packages/{pkgid}/revisions/{prev}"


def upload_committed_big(server, recipe_path, body, index=999_999):
    """Uploads `body` as conan_package.tgz of a committed package revision; returns the file path."""
    path = package_path(recipe_path, index)
    put_big(server, f"{path}/files/conan_package.tgz", body)
    info = b"[settings]\nos=Linux\n"
    put(server, f"{path}/files/conaninfo.txt", info)
    put(server, f"{path}/files/conanmanifest.txt", f"1700000000\nconaninfo.txt: {md5(info)}\n".encode())
    return f"{path}/files/conan_package.tgz"


def curl_download(url, token=None):
    command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def parallel_downloads(url, token, streams, expected):
    """`streams` curls of the same URL at once; aggregate MiB/s from the first start to the last end."""
    started = time.time()
    processes = [curl_download(url, token) for _ in range(streams)]
    try:
        for process in processes:
            out, err = process.communicate()
            status, size = out.split()
            if process.returncode != 0 or status not in ("200", "206") or int(size) != expected:
                raise RuntimeError(f"download of {url} failed: rc={process.returncode} {out} {err}")
    finally:
        for process in processes:
            stop_process(process, signal.SIGKILL)
    elapsed = time.time() - started
    return streams * expected / MIB / elapsed


def dd_speed(directory, mib):
    """The disk's sequential write speed with a final fsync, as dd measures it, in MiB/s."""
    target = directory / "dd.bin"
    try:
        result = run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mib}", "conv=fsync"])
    finally:
        target.unlink(missing_ok=True)
    match = re.search(r"(\d+) bytes .* copied, ([\d.]+) s", result.stderr)
    return int(match.group(1)) / MIB / float(match.group(2))


# --- wrk --------------------------------------------------------------------------------------


def wrk(server, paths, seconds, connections, work, token=True):
    paths_file = work / f"paths-{server.name}-{os.getpid()}-{time.time_ns()}.txt"
    paths_file.write_text("".join(f"{server.prefix}/{path}\n" for path in paths))
    try:
        threads = min(2, connections)
        result = run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
                      "-s", WRK_SCRIPT, server.origin, "--", paths_file, server.token if token else ""])
    finally:
        paths_file.unlink(missing_ok=True)
    match = re.search(r"WRKJSON (\{.*\})", result.stdout)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    figures = json.loads(match.group(1))
    if figures["requests"] == 0:
        # Nothing came back in the whole run: the latency is at least the run's length.
        figures["p50_us"] = figures["p90_us"] = figures["p99_us"] = figures["duration_us"]
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["errors"] = sum(figures[key] for key in ("connect", "read", "write", "status", "timeout"))
    return figures


def combine(runs):
    """Rounds of one server: mean req/s, the worst p99 (conservative), summed errors."""
    return {
        "rps": statistics.mean(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000,
        "p99_ms": max(r["p99_us"] for r in runs) / 1000,
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "rounds": runs,
    }


def check_get(server, path):
    response = requests.get(f"{server.base}/{path}", headers={"Authorization": f"Bearer {server.token}"}, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"{server.name}: GET {path} -> {response.status_code} {response.text[:200]}")


# --- sections ---------------------------------------------------------------------------------


def postgres_database(stack, label):
    """A database of its own on the PostgreSQL server, dropped when `stack` closes; its URL."""
    database = f"conan_bench_{label}_{os.getpid()}"
    run(["psql", "-q", POSTGRES, "-c", f"CREATE DATABASE {database}"])
    stack.callback(run, ["psql", "-q", POSTGRES, "-c", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"],
                   check=False)
    return POSTGRES.rsplit("/", 1)[0] + f"/{database}"


def section_metadata(p, work, results):
    with contextlib.ExitStack() as stack:
        ours = Ours(stack, work, "ours-meta")
        ref = Reference(stack, work, "ref-meta", os.cpu_count())
        recipes = [Recipe(i, p["revisions"], p["binaries"]) for i in range(p["recipes"])]
        fills = {}
        for server in (ours, ref):
            log(f"metadata: filling {server.name} with {len(recipes)} recipes")
            fills[server.name] = fill(server, recipes, p["fill_threads"])
            log(f"metadata: {server.name} took {fills[server.name]['seconds']:.1f} s "
                f"({fills[server.name]['puts_per_s']:.0f} PUT/s)")
        shuffled = recipes[:]
        random.Random(1).shuffle(shuffled)
        prefixes = sorted({f"pkg{i:05d}"[:-2] for i in range(p["recipes"])})
        endpoints = {
            "recipe latest": [f"v2/conans/{r.path}/latest" for r in shuffled],
            "recipe revisions": [f"v2/conans/{r.path}/revisions" for r in shuffled],
            "recipe files": [f"v2/conans/{r.path}/revisions/{r.latest[0]}/files" for r in shuffled],
            "package latest": [f"v2/conans/{r.path}/revisions/{r.latest[0]}/packages/{pkg[0]}/latest"
                               for r in shuffled for pkg in r.latest[2]],
            "package search (revisions/:rrev/search)": [f"v2/conans/{r.path}/revisions/{r.latest[0]}/search"
                                                        for r in shuffled],
            "recipe search (q=pkgNNN*)": [f"v2/conans/search?q={urllib.parse.quote(prefix + '*')}"
                                          for prefix in prefixes],
            # A small file download: what the download recorder (last_downloaded_at) costs, per
            # request, shows here if anywhere.
            "recipe file download (conanmanifest.txt)": [
                f"v2/conans/{r.path}/revisions/{r.latest[0]}/files/conanmanifest.txt" for r in shuffled],
        }
        table = {}
        for endpoint, paths in endpoints.items():
            for server in (ours, ref):
                check_get(server, paths[0])
            runs = {"ours": [], "reference": []}
            for _ in range(p["rounds"]):
                for server in (ours, ref):
                    runs[server.name].append(wrk(server, paths, p["wrk_seconds"], p["connections"], work))
            table[endpoint] = {name: combine(r) for name, r in runs.items()}
            o, r = table[endpoint]["ours"], table[endpoint]["reference"]
            log(f"metadata: {endpoint}: ours {o['rps']:.0f}/s p99 {o['p99_ms']:.2f} ms, "
                f"reference {r['rps']:.0f}/s p99 {r['p99_ms']:.1f} ms")
        ceiling = metadata_ceiling(stack, work, p, ours, endpoints["recipe latest"][0])
        results["metadata"] = {"fill": fills, "endpoints": table, "ceiling": ceiling, "recipes": len(recipes),
                               "revisions": p["revisions"], "binaries": p["binaries"],
                               "postgres": metadata_postgres(stack, work, p, recipes, endpoints)}


# The endpoints issue 25 sets against the ceiling (our /-/health and nginx's static file).
CEILING_ENDPOINTS = ("recipe latest", "recipe revisions", "recipe files", "package latest")


def metadata_postgres(stack, work, p, recipes, endpoints):
    """The ceiling endpoints on PostgreSQL, against the same server's `/-/health`, alternating
    rounds as the SQLite measurement does."""
    server = Ours(stack, work, "ours-meta-pg", {"CONAN_REGISTRY__DATABASE__URL": postgres_database(stack, "meta")})
    log(f"metadata: filling ours on PostgreSQL with {len(recipes)} recipes")
    filled = fill(server, recipes, p["fill_threads"])
    health = Static("ours-pg-health", server.origin)
    runs = {endpoint: [] for endpoint in CEILING_ENDPOINTS}
    runs["/-/health"] = []
    for endpoint in CEILING_ENDPOINTS:
        check_get(server, endpoints[endpoint][0])
    for _ in range(p["rounds"]):
        for endpoint in CEILING_ENDPOINTS:
            runs[endpoint].append(wrk(server, endpoints[endpoint], p["wrk_seconds"], p["connections"], work))
        runs["/-/health"].append(wrk(health, ["-/health"], p["wrk_seconds"], p["connections"], work, token=False))
    figures = {label: combine(r) for label, r in runs.items()}
    for label, f in figures.items():
        log(f"metadata on PostgreSQL: {label}: {f['rps']:.0f}/s p99 {f['p99_ms']:.2f} ms")
    return {"fill": filled, "endpoints": figures}


def metadata_ceiling(stack, work, p, ours, latest_path):
    """What any server answers here with the same load generator: nginx serving our `latest`
    answer as a static file, and our own `/-/health` (routing, middleware and access log, no
    database, no authentication)."""
    root = work / "static"
    root.mkdir()
    answer = requests.get(f"{ours.base}/{latest_path}", headers={"Authorization": f"Bearer {ours.token}"}, timeout=60)
    answer.raise_for_status()
    (root / "latest.json").write_bytes(answer.content)
    targets = {"nginx, static file": (Static("nginx", start_nginx(stack, work, root)), "latest.json"),
               "ours, /-/health": (Static("ours-health", ours.origin), "-/health")}
    runs = {label: [] for label in targets}
    for _ in range(p["rounds"]):
        for label, (server, path) in targets.items():
            runs[label].append(wrk(server, [path], p["wrk_seconds"], p["connections"], work, token=False))
    ceiling = {label: combine(r) for label, r in runs.items()}
    for label, c in ceiling.items():
        log(f"metadata ceiling: {label}: {c['rps']:.0f}/s p99 {c['p99_ms']:.2f} ms")
    return {"body_bytes": len(answer.content), "servers": ceiling}


# The access log's modes: the default (a `write` per line from the thread that logs), off (the
# access target filtered out), and `log.buffered` (a writer thread, a `write` per batch).
ACCESS_LOG_MODES = {
    "on (default)": {},
    "off": {"CONAN_REGISTRY__LOG__LEVEL": "info,conan_registry::access=warn"},
    "buffered": {"CONAN_REGISTRY__LOG__BUFFERED": "true"},
}


def section_accesslog(p, work, results):
    """What the access log costs: recipe `latest` and `/-/health` under wrk against three
    servers holding the same recipes, one per mode, in alternating order each round. The log
    goes to a file, as `spawn` directs every server's output."""
    with contextlib.ExitStack() as stack:
        recipes = [Recipe(i, p["revisions"], p["binaries"]) for i in range(p["recipes"])]
        servers = {}
        for index, (mode, env) in enumerate(ACCESS_LOG_MODES.items()):
            server = Ours(stack, work, f"ours-log-{index}", env)
            log(f"accesslog: filling the server with the access log {mode}")
            fill(server, recipes, p["fill_threads"])
            servers[mode] = server
        shuffled = recipes[:]
        random.Random(2).shuffle(shuffled)
        latest = [f"v2/conans/{r.path}/latest" for r in shuffled]
        runs = {mode: {"latest": [], "health": []} for mode in servers}
        modes = list(servers)
        for round_index in range(p["rounds"] * 2):
            order = modes[round_index % len(modes):] + modes[:round_index % len(modes)]
            for mode in order:
                server = servers[mode]
                runs[mode]["latest"].append(wrk(server, latest, p["wrk_seconds"], p["connections"], work))
                health = Static(f"{server.name}-health", server.origin)
                runs[mode]["health"].append(wrk(health, ["-/health"], p["wrk_seconds"], p["connections"], work,
                                                token=False))
        figures = {mode: {kind: combine(r) for kind, r in kinds.items()} for mode, kinds in runs.items()}
        for mode, f in figures.items():
            log(f"accesslog: {mode}: latest {f['latest']['rps']:.0f}/s p99 {f['latest']['p99_ms']:.2f} ms, "
                f"health {f['health']['rps']:.0f}/s p99 {f['health']['p99_ms']:.2f} ms")
        # Every `/-/health` request wrk completed has its line (a few more: the requests still
        # in flight when a wrk run ends are answered and logged, not counted by wrk).
        lines = {mode: sum(1 for line in (work / f"ours-log-{index}.log").read_text(errors="replace").splitlines()
                           if "conan_registry::access" in line and "/-/health" in line)
                 for index, mode in enumerate(servers)}
        requests_made = {mode: sum(r["requests"] for r in runs[mode]["health"]) for mode in servers}
        results["accesslog"] = {"figures": figures, "access_lines": lines, "requests": requests_made,
                                "recipes": len(recipes)}


def fresh_upload(kind, work, label, p, streams, size, rounds_index):
    """Times `streams` simultaneous uploads of `size` fresh bytes each to a server started just
    for this, so the data it leaves behind is deleted at once. Returns the aggregate MiB/s and the
    server's CPU seconds (user and system, from /proc) per GiB received."""
    with contextlib.ExitStack() as stack:
        server = Ours(stack, work, label) if kind == "ours" else Reference(stack, work, label, os.cpu_count())
        recipe_path = small_recipe(server, "bigup")
        bodies = [BigBody(size, f"{label}-{rounds_index}-{i}-{time.time_ns()}") for i in range(streams)]
        cpu_before = sum(cpu_seconds(pid) for pid in server.pids())
        started = time.time()
        with concurrent.futures.ThreadPoolExecutor(streams) as pool:
            futures = [pool.submit(put_big, server, f"{package_path(recipe_path, i)}/files/conan_package.tgz", body)
                       for i, body in enumerate(bodies)]
            for future in futures:
                future.result()
        elapsed = time.time() - started
        cpu = sum(cpu_seconds(pid) for pid in server.pids()) - cpu_before
    return streams * size / MIB / elapsed, cpu / (streams * size / GIB)


def start_nginx(stack, work, root, label="nginx", extra=""):
    directory = work / label
    (directory / "logs").mkdir(parents=True)
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(f"""
daemon off;
{"user root;" if os.geteuid() == 0 else ""}
worker_processes auto;
pid {directory}/nginx.pid;
error_log {directory}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        {extra}
    }}
}}
""")
    process = spawn(stack, ["nginx", "-p", directory, "-c", config], work / "nginx.log")
    deadline = time.time() + 20
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        if process.poll() is not None or time.time() > deadline:
            raise RuntimeError("nginx did not start:\n" + (work / "nginx.log").read_text())
        time.sleep(0.05)
    stack.callback(shutil.rmtree, directory, True)
    return f"http://127.0.0.1:{port}"


def find_blob(directory, size):
    for path in directory.rglob("*"):
        if path.is_file() and path.stat().st_size == size:
            return path
    raise RuntimeError(f"no {size}-byte file under {directory}")


def section_files_and_mixed(p, work, results, sections):
    size = p["big_mib"] * MIB
    streams = p["streams"]
    with contextlib.ExitStack() as stack:
        ours = Ours(stack, work, "ours-files")
        ref = Reference(stack, work, "ref-files", os.cpu_count())
        body = BigBody(size, "the-download-file")
        log(f"files: uploading the {p['big_mib']} MiB download file to both servers")
        urls = {}
        for server in (ours, ref):
            recipe_path = small_recipe(server, "bigfile")
            urls[server.name] = f"{server.base}/{upload_committed_big(server, recipe_path, body)}"
        blob = find_blob(ours.data, size)
        nginx = start_nginx(stack, work, blob.parent)
        urls["nginx"] = f"{nginx}/{blob.name}"
        tokens = {"ours": ours.token, "reference": ref.token, "nginx": None}

        if "files" in sections:
            downloads = {name: {"single": [], "parallel": []} for name in urls}
            for round_index in range(p["file_rounds"]):
                for name in ("nginx", "ours", "reference"):
                    if name == "reference" and round_index >= p["ref_file_rounds"]:
                        continue
                    for mode, count in (("single", 1), ("parallel", streams)):
                        speed = parallel_downloads(urls[name], tokens[name], count, size)
                        downloads[name][mode].append(speed)
                        log(f"files: download {name} {mode} ({count}): {speed:.0f} MiB/s")
            uploads = {name: {"single": [], "parallel": []} for name in ("ours", "reference")}
            upload_cpu = {name: {"single": [], "parallel": []} for name in ("ours", "reference")}
            disk = []
            for round_index in range(p["upload_rounds"]):
                disk.append(dd_speed(work, p["big_mib"]))
                log(f"files: dd conv=fsync {disk[-1]:.0f} MiB/s")
                for name in ("ours", "reference"):
                    for mode, count in (("single", 1), ("parallel", streams)):
                        speed, cpu = fresh_upload(name, work, f"{name}-up-{mode}-{round_index}", p, count, size, round_index)
                        uploads[name][mode].append(speed)
                        upload_cpu[name][mode].append(cpu)
                        log(f"files: upload {name} {mode} ({count}): {speed:.0f} MiB/s, server CPU {cpu:.2f} s per GiB")
            disk.append(dd_speed(work, p["big_mib"]))
            log(f"files: dd conv=fsync {disk[-1]:.0f} MiB/s")
            results["files"] = {"size_mib": p["big_mib"], "streams": streams, "downloads": downloads,
                                "uploads": uploads, "upload_cpu_s_per_gib": upload_cpu,
                                "disk_dd_fsync": disk}

        if "mixed" in sections:
            results["mixed"] = section_mixed(stack, p, work, ours, urls["ours"], blob)


def section_mixed(stack, p, work, ours, download_url, blob):
    """Recipe `latest` under wrk while big files move, against nginx under the same load (its
    static `latest` answer, the same blob file by sendfile, uploads by WebDAV PUT): the ceiling
    of this machine for a server whose transfers do not get in the way of its small answers.
    Each load (downloads, uploads) runs twice per server: with wrk, and alone, so the transfers'
    rate under wrk can be compared to what they reach without it."""
    recipes = [Recipe(i, 1, 1) for i in range(20)]
    fill(ours, recipes, 8)
    root = work / "mixed-static"
    (root / "uploads").mkdir(parents=True)
    try:
        os.link(blob, root / "blob.tgz")
    except OSError:
        os.symlink(blob, root / "blob.tgz")
    static_paths = []
    for index, recipe in enumerate(recipes):
        answer = requests.get(f"{ours.base}/v2/conans/{recipe.path}/latest",
                              headers={"Authorization": f"Bearer {ours.token}"}, timeout=60)
        answer.raise_for_status()
        (root / f"latest-{index}.json").write_bytes(answer.content)
        static_paths.append(f"latest-{index}.json")
    nginx = Static("nginx-mixed", start_nginx(stack, work, root, "nginx-mixed", extra=f"""
        location /uploads/ {{
            dav_methods PUT;
            client_max_body_size 0;
            client_body_buffer_size 1m;
        }}"""))
    nginx_pid = int((work / "nginx-mixed" / "nginx.pid").read_text())
    nginx.pids = lambda: [nginx_pid, *children(nginx_pid)]
    # nginx overwrites one file per upload worker; ours gets a new package revision each time.
    nginx.upload_path = lambda worker, count: f"uploads/{worker}"
    upload_recipes = [small_recipe(ours, f"mixedup{worker}") for worker in range(max(u for _, u in p["mixed_loads"]))]
    ours.upload_path = lambda worker, count: f"{package_path(upload_recipes[worker], count)}/files/conan_package.tgz"
    # The same build behind nginx with `api.accel_redirect`: nginx proxies every request and
    # sends the files the registry names (a deployment choice, not the embedded default).
    accel = Ours(stack, work, "ours-accel", {"CONAN_REGISTRY__API__ACCEL_REDIRECT": "/_conan_blobs/"})
    accel_file = upload_committed_big(accel, small_recipe(accel, "bigfile"), BigBody(p["big_mib"] * MIB, "the-download-file"))
    fill(accel, recipes, 8)
    front = start_nginx(stack, work, root, "nginx-accel", extra=f"""
        client_max_body_size 0;
        location / {{
            proxy_pass {accel.origin};
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }}
        location /_conan_blobs/ {{
            internal;
            alias {accel.data / "blobs"}/;
        }}""")
    fronted = Static("ours-accel", front)
    fronted.base, fronted.token = f"{front}{accel.prefix}", accel.token
    front_pid = int((work / "nginx-accel" / "nginx.pid").read_text())
    fronted.pids = lambda: [*accel.pids(), front_pid, *children(front_pid)]
    accel_recipes = [small_recipe(accel, f"mixedup{worker}") for worker in range(len(upload_recipes))]
    fronted.upload_path = lambda worker, count: f"{package_path(accel_recipes[worker], count)}/files/conan_package.tgz"
    targets = {"nginx": (nginx, f"{nginx.base}/blob.tgz", static_paths),
               "ours": (ours, download_url, [f"v2/conans/{r.path}/latest" for r in recipes]),
               "ours behind nginx (accel_redirect)": (fronted, f"{fronted.base}/{accel_file}",
                                                      [f"v2/conans/{r.path}/latest" for r in recipes])}
    figures = {}
    for downloads, uploads in p["mixed_loads"]:
        key = f"{downloads} down, {uploads} up"
        figures[key] = {}
        for name, (server, url, paths) in targets.items():
            alone = mixed_load(server, url, paths, p, work, downloads, uploads, with_wrk=False)
            loaded = mixed_load(server, url, paths, p, work, downloads, uploads, with_wrk=True)
            figures[key][name] = {"alone": alone, "loaded": loaded}
            log(f"mixed: {key}: {name}: latest {loaded['rps']:.0f}/s p50 {loaded['p50_ms']:.2f} ms "
                f"p99 {loaded['p99_ms']:.2f} ms, {loaded['errors']} errors; down {loaded['download_mib_s']:.0f} MiB/s "
                f"(alone {alone['download_mib_s']:.0f}), up {loaded['upload_mib_s']:.0f} MiB/s "
                f"(alone {alone['upload_mib_s']:.0f}); server CPU {loaded['server_cpu_s']:.1f} s")
    return {"loads": figures, "seconds": p["mixed_seconds"], "connections": p["mixed_connections"]}


def mixed_load(server, download_url, latest_paths, p, work, downloads, uploads, with_wrk):
    """Downloads and uploads of the big file in loops for the window, with or without wrk asking
    for `latest`. Returns wrk's figures (when it ran), the bytes moved each way per second and the
    CPU seconds the server's processes used in the window."""
    stop = threading.Event()
    moved = {"down": 0, "up": 0}
    lock = threading.Lock()
    size = p["big_mib"] * MIB

    def download_loop():
        # Python rather than curl, to count bytes as they arrive (a 1 GiB download may not end
        # inside the window); recv_into a reused buffer costs about what curl does.
        parts = urllib.parse.urlsplit(download_url)
        buffer = memoryview(bytearray(MIB))
        while not stop.is_set():
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            try:
                connection.request("GET", parts.path, headers={"Authorization": f"Bearer {server.token}"})
                response = connection.getresponse()
                while not stop.is_set():
                    count = response.readinto(buffer)
                    if not count:
                        break
                    with lock:
                        moved["down"] += count
            except OSError:
                pass
            finally:
                connection.close()

    class Counted(BigBody):
        def chunks(self, stop=None):
            for chunk in super().chunks(stop):
                yield chunk
                with lock:
                    moved["up"] += len(chunk)

    def upload_loop(worker):
        count = 0
        while not stop.is_set():
            body = Counted(size, f"mixed-{worker}-{count}-{time.time_ns()}")
            with contextlib.suppress(InterruptedError, OSError, RuntimeError):
                put_big(server, server.upload_path(worker, worker * 1000 + count), body, stop)
            count += 1

    threads = [threading.Thread(target=download_loop, daemon=True) for _ in range(downloads)]
    threads += [threading.Thread(target=upload_loop, args=(i,), daemon=True) for i in range(uploads)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        with lock:
            moved["down"] = moved["up"] = 0
        cpu_before = sum(cpu_seconds(pid) for pid in server.pids())
        started = time.time()
        if with_wrk:
            figures = wrk(server, latest_paths, p["mixed_seconds"], p["mixed_connections"], work,
                          token=bool(server.token))
        else:
            time.sleep(p["mixed_seconds"])
            figures = {}
        with lock:
            elapsed = time.time() - started
            totals = dict(moved)
        cpu = sum(cpu_seconds(pid) for pid in server.pids()) - cpu_before
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    if figures:
        figures.update({"p99_ms": figures["p99_us"] / 1000, "p50_ms": figures["p50_us"] / 1000})
    figures.update({
        "download_mib_s": totals["down"] / MIB / elapsed, "upload_mib_s": totals["up"] / MIB / elapsed,
        "server_cpu_s": cpu, "seconds": elapsed,
    })
    return figures


def section_memory(p, work, results):
    size = p["memory_mib"] * MIB
    memory = {}
    for kind in ("ours", "reference"):
        with contextlib.ExitStack() as stack:
            server = Ours(stack, work, "ours-mem") if kind == "ours" else Reference(stack, work, "ref-mem", os.cpu_count())
            recipe_path = small_recipe(server, "memory")
            # Warm up: one small upload and download, so the baseline includes the steady state.
            put(server, f"{package_path(recipe_path, 1)}/files/warm.bin", b"x" * 65536)
            check_get(server, f"{recipe_path}/files")

            watch = MemoryWatch(server)
            body = BigBody(size, f"memory-{kind}-{time.time_ns()}")
            path = upload_committed_big(server, recipe_path, body)
            after_upload = watch.snapshot()
            speed = parallel_downloads(f"{server.base}/{path}", server.token, 1, size)
            after_download = watch.snapshot()
            watch.stop()
            memory[kind] = {
                "size_mib": p["memory_mib"],
                "rss_before_mib": watch.at_start("VmRSS"),
                "hwm_before_mib": watch.at_start("VmHWM"),
                "hwm_growth_upload_mib": watch.growth(after_upload, "VmHWM"),
                "hwm_growth_total_mib": watch.growth(after_download, "VmHWM"),
                "sampled_rss_growth_mib": watch.sampled_rss_growth(),
                "download_mib_s": speed,
                "processes": len(watch.before),
            }
            log(f"memory: {kind}: {memory[kind]}")
    results["memory"] = memory


def section_clients(p, work, results):
    if not CONAN.exists():
        raise RuntimeError(f"{CONAN} is missing: run scripts/test-venvs")
    count = p["cli_packages"]
    producer = work / "conan-producer"
    env = dict(os.environ)
    env.pop("CONAN_LOGIN_USERNAME", None)
    env.pop("CONAN_PASSWORD", None)

    def conan(home, *args, cwd=None):
        return run([CONAN, *args], env={**env, "CONAN_HOME": str(home)}, cwd=cwd or work)

    def prepare_home(home):
        home.mkdir(parents=True, exist_ok=True)
        conan(home, "profile", "detect", "--force")
        (home / "global.conf").write_text("core:non_interactive=True\n")
        for remote in json.loads(conan(home, "remote", "list", "--format=json").stdout or "[]"):
            conan(home, "remote", "remove", remote["name"])

    names = [f"benchpkg{i:02d}" for i in range(count)]
    # The packages are made once and kept (target/bench-cache): `conan create` of 50 packages
    # takes minutes on a busy 2-core machine. A run works on a copy of that Conan home.
    cache = ROOT / "target" / "bench-cache" / f"conan-producer-{CONAN.parent.parent.name}"
    stamp = f"header_lib with settings os, arch; {count} packages\n"
    if not (cache / "stamp").exists() or (cache / "stamp").read_text() != stamp:
        log(f"clients: creating {count} packages with conan new header_lib + conan create (kept in {cache})")
        started = time.time()
        shutil.rmtree(cache, ignore_errors=True)
        prepare_home(cache)
        for name in names:
            source = work / "conan-src" / name
            source.mkdir(parents=True)
            conan(cache, "new", "header_lib", "-d", f"name={name}", "-d", "version=1.0", cwd=source)
            # A header-only package has an empty conaninfo.txt, which conan_server refuses (400 on
            # an empty PUT body): give the packages settings so both servers can take them.
            recipe = (source / "conanfile.py").read_text()
            recipe = recipe.replace('package_type = "header-library"', 'settings = "os", "arch"')
            (source / "conanfile.py").write_text(recipe.replace('implements = ["auto_header_only"]', ""))
            conan(cache, "create", ".", "--test-folder=", cwd=source)
        (cache / "stamp").write_text(stamp)
        log(f"clients: created in {time.time() - started:.0f} s")
    shutil.copytree(cache, producer, symlinks=True)
    consumer = work / "conan-consumer"
    consumer.mkdir()
    (consumer / "conanfile.txt").write_text("[requires]\n" + "".join(f"{name}/1.0\n" for name in names))

    with contextlib.ExitStack() as stack:
        servers = [Ours(stack, work, "ours-cli"), Reference(stack, work, "ref-cli", os.cpu_count())]
        commands, prepares, homes = [], [], {}
        for server, (user, password) in zip(servers, [("admin", ADMIN_PASSWORD), (REF_USER, REF_PASSWORD)]):
            conan(producer, "remote", "add", server.name, server.base)
            conan(producer, "remote", "login", server.name, user, "-p", password)
            conan(producer, "upload", "*", "-r", server.name, "-c")
            home = work / f"conan-home-{server.name}"
            prepare_home(home)
            conan(home, "remote", "add", server.name, server.base)
            conan(home, "remote", "login", server.name, user, "-p", password)
            homes[server.name] = home
            # Check the command works before timing it.
            conan(home, "install", ".", "-r", server.name, cwd=consumer)
            commands.append(f"CONAN_HOME={home} {CONAN} install . -r {server.name}")
            prepares.append(f"rm -rf {home}/p")
        runs = {s.name: [] for s in servers}
        for round_index in range(p["cli_rounds"]):
            export = work / f"hyperfine-{round_index}.json"
            command = ["hyperfine", "--runs", str(p["cli_runs"]), "--export-json", export]
            for prepare in prepares:
                command += ["--prepare", prepare]
            for server, cmd in zip(servers, commands):
                command += ["-n", server.name, cmd]
            run(command, cwd=consumer, env=env)
            for server, entry in zip(servers, json.loads(export.read_text())["results"]):
                runs[server.name] += entry["times"]
        waits = {server.name: client_waits(server, homes[server.name], consumer, conan) for server in servers}
        results["clients"] = {
            "packages": count,
            "servers": {name: {"mean_s": statistics.mean(t), "stdev_s": statistics.stdev(t) if len(t) > 1 else 0.0,
                               "min_s": min(t), "runs": len(t)} for name, t in runs.items()},
            "waits": waits,
        }
        log(f"clients: {results['clients']['servers']}")


# An access line in the human log format: its time (when the answer was done) and duration.
TIMED_ACCESS_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z\s+INFO conan_registry::access: .*?duration_ms=([0-9.]+)")


def client_waits(server, home, consumer, conan):
    """Where one `conan install` into an empty cache spends its time: its wall time, the client's
    own CPU (the Conan process and its children), the server's CPU, and for ours, from its access
    log, the requests, the sum of their durations and how long at least one was in flight (the
    time the client waited on the server)."""
    shutil.rmtree(home / "p", ignore_errors=True)
    offset = server.log_path.stat().st_size if isinstance(server, Ours) else 0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = sum(cpu_seconds(pid) for pid in server.pids())
    started = time.time()
    conan(home, "install", ".", "-r", server.name, cwd=consumer)
    ended = time.time()
    figures = {"wall_s": ended - started,
               "server_cpu_s": sum(cpu_seconds(pid) for pid in server.pids()) - cpu_before}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures["client_cpu_s"] = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    if isinstance(server, Ours):
        time.sleep(0.2)  # the last access line is written once its answer is done
        with open(server.log_path, "rb") as log_file:
            log_file.seek(offset)
            text = log_file.read().decode(errors="replace")
        spans = []
        for line in text.splitlines():
            match = TIMED_ACCESS_LINE.match(line)
            if match:
                end = datetime.datetime.fromisoformat(match.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
                spans.append((end - float(match.group(2)) / 1000, end))
        busy, reach = 0.0, 0.0
        for start, end in sorted(spans):
            start = max(start, reach)
            if end > start:
                busy += end - start
                reach = end
        figures.update({"requests": len(spans), "request_s_sum": sum(e - s for s, e in spans), "in_flight_s": busy})
    log(f"clients: one install from {server.name}: {figures}")
    return figures


def fill_scale_sqlite(database, count):
    connection = sqlite3.connect(database, timeout=60)
    now = int(time.time() * 1e6)
    with connection:
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
            "INSERT INTO recipes (project_id, name, version, user_name, channel, created_at, updated_at) "
            "SELECT 1, printf('pkg%06d', i), '1.' || (i % 10) || '.0', '', '', ?, ? FROM n", (count, now, now))
        for r in range(3):
            connection.execute(
                "INSERT INTO recipe_revisions (recipe_id, revision, committed_at, created_at) "
                "SELECT id, printf('%032x', ?), ?, ? FROM recipes WHERE project_id = 1",
                (r + 1, now + r, now))
    connection.execute("ANALYZE")
    connection.close()


def fill_scale_postgres(url, count):
    now = int(time.time() * 1e6)
    sql = (
        "BEGIN;"
        "INSERT INTO recipes (project_id, name, version, user_name, channel, created_at, updated_at) "
        f"SELECT 1, 'pkg' || lpad(i::text, 6, '0'), '1.' || (i % 10) || '.0', '', '', {now}, {now} "
        f"FROM generate_series(0, {count - 1}) AS i;"
        + "".join(
            "INSERT INTO recipe_revisions (recipe_id, revision, committed_at, created_at) "
            f"SELECT id, lpad(to_hex({r + 1}), 32, '0'), {now + r}, {now} FROM recipes WHERE project_id = 1;"
            for r in range(3))
        # What autovacuum does on a live server: the visibility map, for index-only scans.
        + "COMMIT; VACUUM ANALYZE;"
    )
    run(["psql", "-v", "ON_ERROR_STOP=1", "-q", url], input=sql)


def section_scale(p, work, results):
    count = p["scale_recipes"]
    rng = random.Random(3)
    picks = [rng.randrange(count) for _ in range(20000)]
    latest = [f"v2/conans/pkg{i:06d}/1.{i % 10}.0/_/_/latest" for i in picks]
    # `pkgNNNN*`: 100 hits each at 100,000 recipes.
    prefix = [f"v2/conans/search?q=pkg{i // 100:04d}%2A" for i in picks[:2000]]
    queries = {"recipe latest": latest, "search q=pkgNNNN* (prefix wildcard)": prefix,
               "search q=* (capped at 500)": ["v2/conans/search?q=%2A"]}
    scale = {"recipes": count, "backends": {}}
    for backend in ("sqlite", "postgres"):
        with contextlib.ExitStack() as stack:
            extra = {}
            if backend == "postgres":
                url = postgres_database(stack, "scale")
                extra["CONAN_REGISTRY__DATABASE__URL"] = url
            server = Ours(stack, work, f"ours-scale-{backend}", extra)
            started = time.time()
            if backend == "sqlite":
                fill_scale_sqlite(server.data / "registry.db", count)
            else:
                fill_scale_postgres(url, count)
            fill_seconds = time.time() - started
            log(f"scale: {backend}: {count} recipes x 3 revisions loaded by SQL in {fill_seconds:.1f} s")
            figures = {}
            for name, paths in queries.items():
                check_get(server, paths[0])
                figures[name] = {}
                for connections in (1, p["connections"]):
                    f = wrk(server, paths, p["scale_seconds"], connections, work)
                    figures[name][connections] = {"rps": f["rps"], "p50_ms": f["p50_us"] / 1000,
                                                  "p99_ms": f["p99_us"] / 1000, "errors": f["errors"]}
                    log(f"scale: {backend} {name} c={connections}: {f['rps']:.0f}/s p99 {f['p99_us'] / 1000:.2f} ms")
            scale["backends"][backend] = {"fill_seconds": fill_seconds, "queries": figures,
                                          "catalog": catalog_listing(server, count, p, work)}
    results["scale"] = scale


def fill_cleanup_sqlite(database, count, revisions):
    """`count` recipes with `revisions` committed revisions each, the newest last (no files)."""
    connection = sqlite3.connect(database, timeout=60)
    now = int(time.time() * 1e6)
    with connection:
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
            "INSERT INTO recipes (project_id, name, version, user_name, channel, created_at, updated_at) "
            "SELECT 1, printf('pkg%06d', i), '1.' || (i % 10) || '.0', '', '', ?, ? FROM n", (count, now, now))
        for r in range(revisions):
            connection.execute(
                "INSERT INTO recipe_revisions (recipe_id, revision, committed_at, created_at) "
                "SELECT id, printf('%032x', ?), ?, ? FROM recipes WHERE project_id = 1",
                (r + 1, now - (revisions - r) * 1000, now))
    connection.execute("ANALYZE")
    connection.close()


def fill_cleanup_postgres(url, count, revisions):
    now = int(time.time() * 1e6)
    sql = (
        "BEGIN;"
        "INSERT INTO recipes (project_id, name, version, user_name, channel, created_at, updated_at) "
        f"SELECT 1, 'pkg' || lpad(i::text, 6, '0'), '1.' || (i % 10) || '.0', '', '', {now}, {now} "
        f"FROM generate_series(0, {count - 1}) AS i;"
        + "".join(
            "INSERT INTO recipe_revisions (recipe_id, revision, committed_at, created_at) "
            f"SELECT id, lpad(to_hex({r + 1}), 32, '0'), {now - (revisions - r) * 1000}, {now} FROM recipes "
            "WHERE project_id = 1;"
            for r in range(revisions))
        + "COMMIT; VACUUM ANALYZE;"
    )
    run(["psql", "-v", "ON_ERROR_STOP=1", "-q", url], input=sql)


def section_cleanup(p, work, results):
    """A cleanup run (keep the 2 newest recipe revisions) over `cleanup_recipes` references with
    `cleanup_revisions` revisions each, started through the API: its duration, and recipe
    `latest` p99 at 1 connection while it runs against idle, in the same server; once per
    `cleanup.work_percent` in `cleanup_work_percents`, each with a fresh server and data."""
    count, revisions = p["cleanup_recipes"], p["cleanup_revisions"]
    rng = random.Random(7)
    latest = [f"v2/conans/pkg{i:06d}/1.{i % 10}.0/_/_/latest" for i in (rng.randrange(count) for _ in range(20000))]
    figures = {"recipes": count, "revisions": revisions, "backends": {}}
    for backend, percent in itertools.product(("sqlite", "postgres"), p["cleanup_work_percents"]):
        with contextlib.ExitStack() as stack:
            extra = {"CONAN_REGISTRY__CLEANUP__POLL_INTERVAL_SECS": "0",
                     "CONAN_REGISTRY__CLEANUP__WORK_PERCENT": str(percent)}
            if backend == "postgres":
                url = postgres_database(stack, "cleanup")
                extra["CONAN_REGISTRY__DATABASE__URL"] = url
            server = Ours(stack, work, f"ours-cleanup-{backend}", extra)
            started = time.time()
            if backend == "sqlite":
                fill_cleanup_sqlite(server.data / "registry.db", count, revisions)
            else:
                fill_cleanup_postgres(url, count, revisions)
            log(f"cleanup: {backend}: {count} recipes x {revisions} revisions loaded by SQL in {time.time() - started:.1f} s")
            check_get(server, latest[0])
            idle = wrk(server, latest, p["scale_seconds"], 1, work)
            api = Static("cleanup", server.origin)
            api.token = server.personal_token()
            headers = {"Authorization": f"Bearer {api.token}"}
            policy = f"{server.origin}/api/v4/projects/1/packages/cleanup_policy"
            requests.put(policy, json={"keep_n_recipe_revisions": 2}, headers=headers, timeout=60).raise_for_status()
            response = requests.post(f"{policy}/runs", headers=headers, timeout=60)
            response.raise_for_status()
            run_url = f"{policy}/runs/{response.json()['id']}"
            during = []
            while True:
                during.append(wrk(server, latest, p["scale_seconds"], 1, work))
                state = requests.get(run_url, headers=headers, timeout=60).json()
                if state["state"] != "running":
                    break
            if state["state"] != "finished" or state["totals"]["recipe_revisions"] != count * (revisions - 2):
                raise RuntimeError(f"cleanup {backend}: {state}")
            started_at = datetime.datetime.fromisoformat(state["started_at"].replace("Z", "+00:00"))
            finished_at = datetime.datetime.fromisoformat(state["finished_at"].replace("Z", "+00:00"))
            seconds = (finished_at - started_at).total_seconds()
            during = combine(during)
            figures["backends"][f"{backend} @ {percent}%"] = {
                "run_seconds": seconds, "removed": state["totals"]["recipe_revisions"],
                "idle": {"rps": idle["rps"], "p50_ms": idle["p50_us"] / 1000, "p99_ms": idle["p99_us"] / 1000,
                         "errors": idle["errors"]},
                "during": {key: during[key] for key in ("rps", "p50_ms", "p99_ms", "errors", "requests")},
            }
            log(f"cleanup: {backend} at work_percent {percent}: removed {state['totals']['recipe_revisions']} revisions in {seconds:.1f} s; latest p99 "
                f"idle {idle['p99_us'] / 1000:.2f} ms, during {during['p99_ms']:.2f} ms")
    results["cleanup"] = figures


def catalog_listing(server, count, p, work):
    """GitLab's Packages API over the scale data at 1 connection: pages of the project listing
    (first, middle, last, random), with and without a name filter (`package_name=pkgNNNN`
    matches 100 recipes at 100,000), p99 against the 20 ms target."""
    api = Static("catalog", server.origin)
    api.token = server.personal_token()
    pages = count // 20
    rng = random.Random(5)
    base = "api/v4/projects/1/packages?per_page=20"
    queries = {
        "first page": [f"{base}&page=1"],
        "middle page": [f"{base}&page={pages // 2}"],
        "last page": [f"{base}&page={pages}"],
        "random pages": [f"{base}&page={rng.randrange(1, pages + 1)}" for _ in range(2000)],
        "name filter, first page": [f"{base}&package_name=pkg{rng.randrange(count // 100):04d}" for _ in range(2000)],
        "name filter, last page": [f"{base}&page=5&package_name=pkg{rng.randrange(count // 100):04d}" for _ in range(2000)],
        "sorted by name desc, middle page": [f"{base}&order_by=name&sort=desc&page={pages // 2}"],
    }
    figures = {}
    for name, paths in queries.items():
        response = requests.get(f"{api.origin}/{paths[0]}", headers={"Authorization": f"Bearer {api.token}"},
                                timeout=60)
        if response.status_code != 200 or (name != "last page" and not response.json()):
            raise RuntimeError(f"catalog {name}: {response.status_code} {response.text[:200]}")
        f = wrk(api, paths, p["scale_seconds"], 1, work)
        figures[name] = {"rps": f["rps"], "p50_ms": f["p50_us"] / 1000, "p99_ms": f["p99_us"] / 1000,
                         "errors": f["errors"]}
        log(f"catalog: {name}: {f['rps']:.0f}/s p99 {f['p99_us'] / 1000:.2f} ms")
    return figures


# --- web pages ----------------------------------------------------------------------------------

WEB_PROJECT = "demo/packages"
# The pages answer `page` 1 to 1,000 only (conan-web's `params::MAX_PAGE`), 25 rows each.
WEB_MAX_PAGE = 1000
WEB_OS, WEB_ARCH, WEB_BUILD = ["Linux", "Windows", "Macos"], ["x86_64", "armv8", "x86", "riscv64"], ["Release", "Debug"]


class WebRecipe:
    """A recipe for the page benchmark, in `Recipe`'s shape (so `fill` uploads it): a
    `conanfile.py` that declares what the recipe page shows, 1 to 3 revisions (30 for every 20th
    recipe: two pages of revisions), 4 binaries per revision with settings, options and requires
    (60 on the newest revision of every 10th: three pages of binaries), and 3 package revisions
    for every 5th binary."""

    def __init__(self, index):
        self.index = index
        self.name, self.version = f"lib{index:05d}", f"{1 + index % 4}.{index % 7}.0"
        user, channel = ("team", "stable") if index % 3 == 0 else ("_", "_")
        self.path = f"{self.name}/{self.version}/{user}/{channel}"
        rng = random.Random(1000 + index)
        count = 30 if index % 20 == 0 else 1 + index % 3
        self.revisions = []  # (rrev, files, [(pkgid, prev, files)])
        for r in range(count):
            conanfile = (f'from conan import ConanFile\n\nclass Lib(ConanFile):\n    name = "{self.name}"\n'
                         f'    version = "{self.version}"\n    description = "Benchmark library {index}, revision {r}"\n'
                         f'    license = "MIT", "Apache-2.0"\n    homepage = "https://example.com/{self.name}"\n'
                         f'    topics = ("bench", "web", "{self.name}")\n'
                         f'    settings = "os", "arch", "build_type", "compiler"\n'
                         f'    options = {{"shared": [True, False], "fPIC": [True, False]}}\n').encode()
            manifest = f"{1700000000 + r}\nconanfile.py: {md5(conanfile)}\n".encode()
            files = [("conan_export.tgz", rng.randbytes(1024)), ("conanfile.py", conanfile),
                     ("conanmanifest.txt", manifest)]
            newest = r == count - 1
            binaries = 60 if newest and index % 10 == 1 else (4 if newest or count <= 3 else 0)
            packages = []
            for b in range(binaries):
                info = (f"[settings]\narch={WEB_ARCH[b // 3 % 4]}\nbuild_type={WEB_BUILD[b // 12 % 2]}\n"
                        f"compiler=gcc\ncompiler.version={11 + b // 48}\nos={WEB_OS[b % 3]}\n"
                        f"[options]\nfPIC=True\nshared={b // 24 % 2 == 1}\n"
                        f"[requires]\nzlib/1.3.Z\nfmt/10.{b % 3}.Z\n").encode()
                pkgid = sha1(info)
                for v in range(3 if b % 5 == 0 else 1):
                    pmanifest = f"{1700000000 + r * 10 + v}\nconaninfo.txt: {md5(info)}\n".encode()
                    packages.append((pkgid, md5(pmanifest + self.name.encode()), [
                        ("conan_package.tgz", rng.randbytes(2048)), ("conaninfo.txt", info),
                        ("conanmanifest.txt", pmanifest)]))
            self.revisions.append((md5(manifest + self.name.encode()), files, packages))

    def url(self):
        return f"/-/web/projects/{WEB_PROJECT}/-/recipes/{self.path}"


def table_rows(html):
    """The most `<tr>` rows in any one `<tbody>` of a page."""
    return max((body.count("<tr") for body in re.findall(r"<tbody>(.*?)</tbody>", html, re.S)), default=0)


ACCESS_LINE = re.compile(r"request_id=(webbench-\S+) .*? duration_ms=([\d.]+)")


def access_durations(log_path, batch, expected):
    """The access log's `duration_ms` of the requests tagged `webbench-<batch>-*` (the server's
    own time for each request, from its middleware seeing the request to the last byte of the
    body handed to the socket), once all `expected` lines are there; [] if they never arrive."""
    deadline = time.time() + 10
    prefix = f"webbench-{batch}-"
    while True:
        text = log_path.read_text(errors="replace")
        durations = [float(m.group(2)) for m in ACCESS_LINE.finditer(text) if m.group(1).startswith(prefix)]
        if len(durations) >= expected or time.time() > deadline:
            return durations if len(durations) == expected else []
        time.sleep(0.05)


def percentile(values, fraction):
    """The nearest-rank percentile (p99 of 300 values is the 297th smallest)."""
    ordered = sorted(values)
    rank = int(-(-len(ordered) * fraction // 1))
    return ordered[min(len(ordered), max(1, rank)) - 1]


def measure_pages(origin, log_path, batch, urls, count):
    """`count` anonymous GETs cycling through `urls`, one at a time on one keep-alive
    connection, after a warm-up pass that is not counted: the client's latency (request sent to
    body read, over loopback), the server's (from its access log), the largest body and the most
    rows in one table."""
    parts = urllib.parse.urlsplit(origin)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def get(url, request_id):
        started = time.perf_counter()
        connection.request("GET", url, headers={"X-Request-Id": request_id})
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"web: GET {url} -> {response.status}: {body[:300]!r}")
        return elapsed, body

    client, largest, rows = [], 0, 0
    try:
        for i, url in enumerate(urls[:20] * max(1, 20 // len(urls))):
            get(url, f"warmup-{batch}-{i}")
        for i in range(count):
            elapsed, body = get(urls[i % len(urls)], f"webbench-{batch}-{i}")
            client.append(elapsed * 1000)
            largest = max(largest, len(body))
            rows = max(rows, table_rows(body.decode(errors="replace")))
    finally:
        connection.close()
    server = access_durations(log_path, batch, count)
    figures = {"requests": count, "urls": len(urls), "client_p50_ms": percentile(client, 0.5),
               "client_p99_ms": percentile(client, 0.99), "client_max_ms": max(client),
               "max_body_bytes": largest, "max_rows": rows}
    if server:
        figures.update(server_p50_ms=percentile(server, 0.5), server_p99_ms=percentile(server, 0.99),
                       server_max_ms=max(server))
    return figures


def web_pages(count, detailed, scale_count):
    """Each page type and the URLs its requests cycle through."""
    rng = random.Random(18)
    project = f"/-/web/projects/{WEB_PROJECT}"
    last = min((count + 24) // 25, WEB_MAX_PAGE)
    search_last = (min(count, 1000) + 24) // 25
    prefixes = max(1, scale_count // 100)
    wide = [r for r in detailed if r.index % 10 == 1]
    deep = [r for r in detailed if r.index % 20 == 0]
    pages = {
        "home `/`": ["/"],
        "search `q=pkgNNNN*` (100 matches at 100,000)": [
            f"/-/web/search?q=pkg{rng.randrange(prefixes):04d}%2A" for _ in range(200)],
        f"search `q=*`, last page ({search_last})": [f"/-/web/search?q=%2A&page={search_last}"],
    }
    for sort in ("name", "version", "created"):
        for direction in ("asc", "desc"):
            pages[f"project, page 1, {sort} {direction}"] = [f"{project}?sort={sort}&direction={direction}"]
    deepest = "last page" if last * 25 >= count else "deepest page"
    for sort in ("name", "version", "created"):
        for direction in ("asc", "desc"):
            pages[f"project, {deepest} ({last}), {sort} {direction}"] = [
                f"{project}?sort={sort}&direction={direction}&page={last}"]
    pages["recipe (1 to 30 revisions)"] = [r.url() for r in rng.sample(detailed, min(200, len(detailed)))]
    pages["recipe, 2nd page of revisions"] = [f"{r.url()}?page=2" for r in deep]
    revision = lambda r: f"{r.url()}/revisions/{r.revisions[-1][0]}"  # noqa: E731
    pages["revision, 4 binaries"] = [revision(r) for r in detailed if r.index % 10 != 1][:200]
    pages["revision, 60 binaries, page 1"] = [revision(r) for r in wide]
    pages["revision, 60 binaries, last page (3)"] = [f"{revision(r)}?page=3" for r in wide]
    pages["revision, 60 binaries, filter os + build_type"] = [
        f"{revision(r)}?settings.os=Linux&settings.build_type=Release" for r in wide]
    packages = []
    for r in detailed:
        rrev, _, binaries = r.revisions[-1]
        newest = {pkgid: prev for pkgid, prev, _ in binaries}
        packages += [f"{revision(r)}/packages/{pkgid}/revisions/{prev}" for pkgid, prev in newest.items()]
    pages["package revision"] = rng.sample(packages, min(300, len(packages)))
    return pages


def section_web(p, work, results):
    """The web pages over a public project of `web_recipes` recipes, anonymous, at 1 connection:
    most recipes come from the scale section's SQL fill (3 revisions, no files), the rest are
    uploaded over the Conan API with files, binaries and package revisions (`WebRecipe`)."""
    count = p["web_recipes"]
    detailed = [WebRecipe(i) for i in range(min(p["web_detailed"], count))]
    scale_count = count - len(detailed)
    pages = web_pages(count, detailed, scale_count)
    figures = {"recipes": count, "detailed": len(detailed), "requests": p["web_requests"], "backends": {}}
    for backend in ("sqlite", "postgres"):
        with contextlib.ExitStack() as stack:
            extra = {"CONAN_REGISTRY__BOOTSTRAP__PROJECT_VISIBILITY": "public"}
            if backend == "postgres":
                url = postgres_database(stack, "web")
                extra["CONAN_REGISTRY__DATABASE__URL"] = url
            label = f"ours-web-{backend}"
            server = Ours(stack, work, label, extra)
            started = time.time()
            if scale_count:
                if backend == "sqlite":
                    fill_scale_sqlite(server.data / "registry.db", scale_count)
                else:
                    fill_scale_postgres(url, scale_count)
            sql_seconds = time.time() - started
            uploaded = fill(server, detailed, p["fill_threads"])
            if backend == "sqlite":
                connection = sqlite3.connect(server.data / "registry.db", timeout=60)
                connection.execute("ANALYZE")
                connection.close()
            else:
                run(["psql", "-q", url, "-c", "VACUUM ANALYZE"])
            log(f"web: {backend}: {scale_count} recipes by SQL in {sql_seconds:.1f} s, {len(detailed)} uploaded "
                f"({uploaded['puts']} PUTs) in {uploaded['seconds']:.1f} s")
            # The project's true last page, which may lie past the pages' cap.
            true_last = (count + 24) // 25
            answer = requests.get(f"{server.origin}/-/web/projects/{WEB_PROJECT}?page={true_last}", timeout=60)
            figures["true_last_page"] = {"page": true_last, "status": answer.status_code}
            log(f"web: {backend}: the project's last page ({true_last}) answers {answer.status_code}")
            measured = {}
            for batch, (name, urls) in enumerate(pages.items()):
                f = measure_pages(server.origin, work / f"{label}.log", batch, urls, p["web_requests"])
                measured[name] = f
                log(f"web: {backend} {name}: client p50 {f['client_p50_ms']:.2f} p99 {f['client_p99_ms']:.2f} ms, "
                    f"server p99 {f.get('server_p99_ms', float('nan')):.2f} ms, {f['max_body_bytes']:,} bytes, "
                    f"{f['max_rows']} rows")
            figures["backends"][backend] = {"sql_fill_seconds": sql_seconds, "upload": uploaded, "pages": measured}
    results["web"] = figures


# --- remote projects ------------------------------------------------------------------------------

REMOTE_PROJECT = "mirror/upstream"


def remote_metric(server, name, project_id):
    """One of `/metrics`'s per remote project counters (`conan_registry_remote_<name>`)."""
    text = requests.get(f"{server.origin}/metrics", timeout=60).text
    found = re.search(rf'^conan_registry_remote_{name}\{{project="{project_id}"\}} (\d+)', text, re.M)
    return int(found.group(1)) if found else 0


def list_then_get(server, files_path, size, probe):
    """What a client does to read a package revision it has not seen: the revision's file list,
    then its `conan_package.tgz` with curl. Seconds of each, and `probe()`'s figures (CPU
    seconds of the servers) spent in each."""
    marks = [(time.perf_counter(), probe())]
    check_get(server, files_path)
    marks.append((time.perf_counter(), probe()))
    parallel_downloads(f"{server.base}/{files_path}/conan_package.tgz", server.token, 1, size)
    marks.append((time.perf_counter(), probe()))
    (t0, c0), (t1, c1), (t2, c2) = marks
    return {"list_s": t1 - t0, "get_s": t2 - t1, "total_s": t2 - t0,
            "cpu_list_s": {k: c1[k] - c0[k] for k in c0}, "cpu_get_s": {k: c2[k] - c1[k] for k in c0}}


def alternating(rounds, names):
    """`names` in order in even rounds and reversed in odd ones, so neither side always goes first."""
    for index in range(rounds):
        yield from (names if index % 2 == 0 else names[::-1])


def section_remote(p, work, results):
    """A remote project (issue 21): a project of our registry that caches a second
    conan-registry on loopback (its private bootstrap project, read with credentials sealed by
    `remote.credentials_key`, as docs/REMOTE_PROJECTS.md sets one up), measured against a local
    project of the same registry and against the upstream read directly:
    - the first read of an uncached package revision with a big file, as a client makes it (the
      file list, which fetches the whole revision into the store, then the file), against the
      same two requests to the upstream; the registry's memory sampled meanwhile;
    - a cached big download, against the same bytes from the local project;
    - recipe `latest` under wrk once the lists are cached (time to live 3,600 s), against the
      same recipes in the local project."""
    size = p["big_mib"] * MIB
    rounds = p["remote_rounds"]
    with contextlib.ExitStack() as stack:
        upstream = Ours(stack, work, "upstream-remote")
        upstream.name = "upstream"
        ours = Ours(stack, work, "ours-remote",
                    {"CONAN_REGISTRY__REMOTE__CREDENTIALS_KEY": base64.b64encode(os.urandom(32)).decode()})
        ours.admin("project", "create", REMOTE_PROJECT, "--visibility", "private")
        shown = ours.admin("remote", "set", REMOTE_PROJECT, "--url", upstream.base, "--user", "admin",
                           "--password-stdin", "--metadata-ttl-secs", "3600", stdin=ADMIN_PASSWORD + "\n")
        project_id = int(re.search(r"\(id (\d+)\)", shown).group(1))
        remote = Static("remote", f"{ours.origin}/api/v4/projects/{project_id}/packages/conan")
        remote.token = ours.token

        # Uncached: one fresh package revision per round, so each round fetches bytes never seen.
        log(f"remote: uploading {rounds} package revisions of {p['big_mib']} MiB to the upstream")
        recipe_path = small_recipe(upstream, "bigremote")
        bodies = [BigBody(size, f"remote-{i}-{time.time_ns()}") for i in range(rounds)]
        files = [upload_committed_big(upstream, recipe_path, body, index=i).rpartition("/")[0]
                 for i, body in enumerate(bodies)]
        # The recipe revision (three small files) is fetched before the package revision in any
        # case: fetched here untimed, so the rounds time the big package revision only.
        for server in (upstream, remote):
            check_get(server, f"{recipe_path}/files")
        servers = {"direct": upstream, "remote": remote}

        def probe():
            return {"registry": cpu_seconds(ours.process.pid), "upstream": cpu_seconds(upstream.process.pid)}

        uncached = {"direct": [], "remote": []}
        watch = MemoryWatch(ours)
        for index, name in enumerate(alternating(rounds, ["direct", "remote"])):
            measured = list_then_get(servers[name], files[index // 2], size, probe)
            uncached[name].append(measured)
            log(f"remote: uncached {name}: list {measured['list_s']:.2f} s + GET {measured['get_s']:.2f} s "
                f"({size / MIB / measured['total_s']:.0f} MiB/s); CPU s during the list {measured['cpu_list_s']}")
        after = watch.snapshot()
        watch.stop()
        memory = {"rss_before_mib": watch.at_start("VmRSS"),
                  "hwm_growth_mib": watch.growth(after, "VmHWM"), "sampled_rss_growth_mib": watch.sampled_rss_growth(),
                  "fetched_bytes": remote_metric(ours, "fetched_bytes", project_id)}
        log(f"remote: memory during the uncached reads: {memory}")
        disk = dd_speed(work, p["big_mib"])

        # Cached: the bytes of the first round's revision, also uploaded to the local project.
        started = time.time()
        local_path = upload_committed_big(ours, small_recipe(ours, "bigremote"), bodies[0], index=0)
        local_upload_s = time.time() - started
        urls = {"local": f"{ours.base}/{local_path}", "remote": f"{remote.base}/{files[0]}/conan_package.tgz"}
        cached = {"local": [], "remote": []}
        for name in alternating(p["remote_download_rounds"], ["local", "remote"]):
            cached[name].append(parallel_downloads(urls[name], ours.token, 1, size))
            log(f"remote: cached download {name}: {cached[name][-1]:.0f} MiB/s")

        # `latest`: the same recipes in the upstream and in the local project; every list asked
        # once through the remote project, so wrk reads the cache.
        recipes = [Recipe(i, p["revisions"], 0) for i in range(p["recipes"])]
        for server in (upstream, ours):
            fill(server, recipes, p["fill_threads"])
        random.Random(1).shuffle(recipes)
        paths = [f"v2/conans/{r.path}/latest" for r in recipes]
        for recipe, path in zip(recipes, paths):
            answer = requests.get(f"{remote.base}/{path}", headers={"Authorization": f"Bearer {remote.token}"}, timeout=60)
            if answer.status_code != 200 or answer.json()["revision"] != recipe.latest[0]:
                raise RuntimeError(f"remote: GET {path} -> {answer.status_code} {answer.text[:200]}")
        asked = remote_metric(ours, "upstream_requests", project_id)
        runs = {"local": [], "remote": []}
        for name in alternating(p["rounds"], ["local", "remote"]):
            runs[name].append(wrk(ours if name == "local" else remote, paths, p["wrk_seconds"], p["connections"], work))
            log(f"remote: latest {name}: {runs[name][-1]['rps']:.0f}/s p99 {runs[name][-1]['p99_us'] / 1000:.2f} ms")
        latest = {name: combine(r) for name, r in runs.items()}
        latest["upstream_requests_during_wrk"] = remote_metric(ours, "upstream_requests", project_id) - asked
        results["remote"] = {"size_mib": p["big_mib"], "rounds": rounds, "uncached": uncached, "memory": memory,
                             "disk_dd_fsync": disk, "local_upload_s": local_upload_s, "cached": cached,
                             "latest": latest, "recipes": len(recipes), "revisions": p["revisions"]}


# --- report -----------------------------------------------------------------------------------


def verdict(ok):
    return "met" if ok else "**missed**"


def report(results, args, profile):
    lines = []
    targets = []
    env = results["environment"]
    lines += [f"## End-to-end comparison ({'quick' if args.quick else 'full'} run)", "",
              f"- date: {env['date']}; machine: {env['cpus']} cores ({env['cpu']}), {env['memory_gib']:.0f} GiB; kernel {env['kernel']}",
              f"- reference: conan_server {env['conan_server']} under gunicorn {env['gunicorn']} with {env['workers']} sync workers; "
              f"wrk {env['wrk']}; {env['nginx']}; {env['hyperfine']}",
              f"- command: `{env['command']}`; binary {env['binary']}; total {results.get('elapsed_s', 0) / 60:.1f} min", ""]
    if "metadata" in results:
        m = results["metadata"]
        lines += ["### Metadata (wrk, {} connections, {} x {} s alternating rounds per server)".format(
            profile["connections"], profile["rounds"], profile["wrk_seconds"]), "",
            f"Data: {m['recipes']} recipes x {m['revisions']} revisions x {m['binaries']} binaries, uploaded over HTTP "
            f"(ours {m['fill']['ours']['puts_per_s']:.0f} PUT/s, reference {m['fill']['reference']['puts_per_s']:.0f} PUT/s, "
            f"{m['fill']['ours']['puts']} PUTs each, {profile['fill_threads']} client threads; PUTs answered 503 and retried: "
            f"ours {m['fill']['ours']['retried_503']}, reference {m['fill']['reference']['retried_503']}). "
            "req/s is the mean of the rounds, p99 the worst round.", "",
            "| endpoint | ours req/s | ours p99 ms | reference req/s | reference p99 ms | ratio | target (>= 20x, p99 < 5 ms) |",
            "|---|---:|---:|---:|---:|---:|---|"]
        for endpoint, row in m["endpoints"].items():
            o, r = row["ours"], row["reference"]
            ratio = o["rps"] / r["rps"] if r["rps"] else float("inf")
            ok = ratio >= 20 and o["p99_ms"] < 5 and o["errors"] == 0
            errors = "" if o["errors"] == 0 and r["errors"] == 0 else f" (errors: ours {o['errors']}, ref {r['errors']})"
            lines.append(f"| {endpoint}{errors} | {o['rps']:,.0f} | {o['p99_ms']:.2f} | {r['rps']:,.0f} | {r['p99_ms']:.1f} | "
                         f"{ratio:.1f}x | {verdict(ok)} |")
            targets.append((f"metadata {endpoint}: {ratio:.1f}x, p99 {o['p99_ms']:.2f} ms", ok))
        lines.append("")
        if "ceiling" in m:
            c = m["ceiling"]
            latest = m["endpoints"]["recipe latest"]["reference"]["rps"]
            lines += [f"Ceiling on this machine, same wrk and connections (20x the reference's `latest` would be "
                      f"{20 * latest:,.0f} req/s):", "",
                      "| server | req/s | p99 ms | / reference `latest` |", "|---|---:|---:|---:|"]
            for label, v in c["servers"].items():
                lines.append(f"| {label}{' (' + str(c['body_bytes']) + ' bytes)' if 'nginx' in label else ''} | "
                             f"{v['rps']:,.0f} | {v['p99_ms']:.2f} | {v['rps'] / latest:.1f}x |")
            health, nginx = c["servers"]["ours, /-/health"]["rps"], c["servers"]["nginx, static file"]["rps"]
            lines += ["", "Against the ceiling (issue 25), SQLite:", "",
                      "| endpoint | req/s | / ours `/-/health` (>= 0.8) | / nginx static (>= 0.5) |",
                      "|---|---:|---:|---:|"]
            for endpoint in CEILING_ENDPOINTS:
                rps = m["endpoints"][endpoint]["ours"]["rps"]
                lines.append(f"| {endpoint} | {rps:,.0f} | {rps / health:.2f} | {rps / nginx:.2f} |")
                targets.append((f"SQLite {endpoint}: {rps / health:.2f} of /-/health", rps >= 0.8 * health))
                targets.append((f"SQLite {endpoint}: {rps / nginx:.2f} of nginx", rps >= 0.5 * nginx))
            lines.append("")
        if "postgres" in m:
            pg = m["postgres"]["endpoints"]
            health = pg["/-/health"]["rps"]
            lines += [f"On PostgreSQL (the same data; its own `/-/health` {health:,.0f} req/s, "
                      f"p99 {pg['/-/health']['p99_ms']:.2f} ms):", "",
                      "| endpoint | req/s | p99 ms | / `/-/health` (>= 0.5) |", "|---|---:|---:|---:|"]
            for endpoint in CEILING_ENDPOINTS:
                f = pg[endpoint]
                ok = f["rps"] >= 0.5 * health and f["errors"] == 0
                lines.append(f"| {endpoint} | {f['rps']:,.0f} | {f['p99_ms']:.2f} | {f['rps'] / health:.2f}: {verdict(ok)} |")
                targets.append((f"PostgreSQL {endpoint}: {f['rps'] / health:.2f} of /-/health", ok))
            lines.append("")
    if "files" in results:
        f = results["files"]
        mean = lambda values: statistics.mean(values) if values else float("nan")  # noqa: E731
        d, u = f["downloads"], f["uploads"]
        disk = mean(f["disk_dd_fsync"])
        lines += [f"### Files ({f['size_mib']} MiB file; MiB/s, {f['streams']} streams = aggregate of {f['streams']} "
                  "simultaneous transfers of the whole file)", "",
                  "| transfer | ours | reference | nginx / disk | ours / bar | ours / reference | target |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for mode, label in (("single", "download, 1 stream"), ("parallel", f"download, {f['streams']} streams")):
            o, r, n = mean(d["ours"][mode]), mean(d["reference"][mode]), mean(d["nginx"][mode])
            ok = o >= 0.95 * n
            lines.append(f"| {label} | {o:,.0f} | {r:,.0f} | nginx {n:,.0f} | {o / n:.2f} | {o / r:.1f}x | >= 0.95 of nginx: {verdict(ok)} |")
            targets.append((f"{label}: {o / n:.2f} of nginx", ok))
        for mode, label in (("single", "upload, 1 stream"), ("parallel", f"upload, {f['streams']} streams")):
            o, r = mean(u["ours"][mode]), mean(u["reference"][mode])
            ok = o >= 0.8 * disk
            lines.append(f"| {label} | {o:,.0f} | {r:,.0f} | dd fsync {disk:,.0f} | {o / disk:.2f} | {o / r:.1f}x | >= 0.8 of disk: {verdict(ok)} |")
            targets.append((f"{label}: {o / disk:.2f} of dd", ok))
        cpu = f.get("upload_cpu_s_per_gib")
        if cpu:
            lines += ["", "Uploads, server CPU seconds (user + system, from /proc) per GiB received, and the "
                      "aggregate rate against the reference:", "",
                      "| uploads | ours CPU s/GiB | reference CPU s/GiB | ours / reference rate | target |",
                      "|---|---:|---:|---:|---|"]
            for mode, label in (("single", "1 stream"), ("parallel", f"{f['streams']} streams")):
                oc, rc = mean(cpu["ours"][mode]), mean(cpu["reference"][mode])
                ratio = mean(u["ours"][mode]) / mean(u["reference"][mode])
                cpu_ok = oc <= 1.6
                goals = [f"CPU <= 1.6 s/GiB: {verdict(cpu_ok)}"]
                targets.append((f"upload CPU, {label}: {oc:.2f} s/GiB", cpu_ok))
                if mode == "parallel":
                    rate_ok = ratio >= 1.5
                    goals.append(f"rate >= 1.5x the reference: {verdict(rate_ok)}")
                    targets.append((f"upload, {label}: {ratio:.2f}x the reference", rate_ok))
                lines.append(f"| {label} | {oc:.2f} | {rc:.2f} | {ratio:.2f}x | {'; '.join(goals)} |")
        lines += ["", f"Rounds: downloads {json.dumps({k: {m: [round(x) for x in v] for m, v in s.items()} for k, s in d.items()})}; "
                  f"uploads {json.dumps({k: {m: [round(x) for x in v] for m, v in s.items()} for k, s in u.items()})}; "
                  f"dd {[round(x) for x in f['disk_dd_fsync']]}.", ""]
    if "mixed" in results:
        x = results["mixed"]
        lines += [f"### Under transfer load (recipe `latest`, wrk {x['connections']} connections for {x['seconds']} s, "
                  f"while {profile['big_mib']} MiB downloads and uploads run in loops; nginx serves a static "
                  "`latest`, the same blob by sendfile and takes uploads by WebDAV PUT)", "",
                  "| load | server | latest req/s | p50 ms | p99 ms | errors | down MiB/s (alone) | up MiB/s (alone) | server CPU s |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for key, servers in x["loads"].items():
            for name, v in servers.items():
                l, a = v["loaded"], v["alone"]
                lines.append(f"| {key} | {name} | {l['rps']:,.0f} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {l['errors']} | "
                             f"{l['download_mib_s']:,.0f} ({a['download_mib_s']:,.0f}) | "
                             f"{l['upload_mib_s']:,.0f} ({a['upload_mib_s']:,.0f}) | {l['server_cpu_s']:.1f} |")
        lines.append("")
        for key, servers in x["loads"].items():
            o, n = servers["ours"]["loaded"], servers["nginx"]["loaded"]
            alone = servers["ours"]["alone"]["download_mib_s"]
            rate, p99 = o["rps"] / max(n["rps"], 1e-9), o["p99_ms"] / max(n["p99_ms"], 1e-3)
            kept = o["download_mib_s"] / max(alone, 1e-9)
            f = servers.get("ours behind nginx (accel_redirect)")
            if f:
                fl = f["loaded"]
                lines.append(f"- {key}: behind nginx with `accel_redirect` (not the embedded default, no target): latest "
                             f"{fl['rps'] / max(n['rps'], 1e-9):.2f} of nginx's rate, p99 "
                             f"{fl['p99_ms'] / max(n['p99_ms'], 1e-3):.1f}x, downloads "
                             f"{fl['download_mib_s'] / max(f['alone']['download_mib_s'], 1e-9):.2f} of alone")
            for label, ok in ((f"{key}: latest {rate:.2f} of nginx's rate (>= 0.5)", rate >= 0.5 and o["errors"] == 0),
                              (f"{key}: latest p99 {p99:.1f}x nginx's (<= 2x)", p99 <= 2),
                              (f"{key}: downloads {kept:.2f} of alone (>= 0.9)", kept >= 0.9)):
                lines.append(f"- {label}: {verdict(ok)}")
                targets.append((label, ok))
        lines.append("")
    if "clients" in results:
        c = results["clients"]
        o, r = c["servers"]["ours"], c["servers"]["reference"]
        lines += [f"### Whole client (`conan install` of {c['packages']} packages into an empty cache, hyperfine, "
                  f"{o['runs']} runs each)", "",
                  "| server | mean s | stdev s | min s |", "|---|---:|---:|---:|",
                  f"| ours | {o['mean_s']:.2f} | {o['stdev_s']:.2f} | {o['min_s']:.2f} |",
                  f"| reference | {r['mean_s']:.2f} | {r['stdev_s']:.2f} | {r['min_s']:.2f} |", "",
                  f"Ratio reference/ours: {r['mean_s'] / o['mean_s']:.2f}x (target >= 1.5x: "
                  f"{verdict(r['mean_s'] >= 1.5 * o['mean_s'])}).", ""]
        targets.append((f"conan install of {c['packages']} packages: {r['mean_s'] / o['mean_s']:.2f}x faster than the reference",
                        r["mean_s"] >= 1.5 * o["mean_s"]))
        if "waits" in c:
            w, rw = c["waits"]["ours"], c["waits"]["reference"]
            lines += ["Where one more install (empty cache) spends its time; the client's CPU is the Conan process and "
                      "what it starts, the server's from /proc, and for ours its access log gives the requests and "
                      "how long at least one of them was in flight (the client waiting on the server):", "",
                      "| server | wall s | client CPU s | server CPU s | requests | in flight s | sum of durations s |",
                      "|---|---:|---:|---:|---:|---:|---:|",
                      f"| ours | {w['wall_s']:.2f} | {w['client_cpu_s']:.2f} | {w['server_cpu_s']:.2f} | {w['requests']} | "
                      f"{w['in_flight_s']:.3f} ({w['in_flight_s'] / w['wall_s']:.0%} of wall) | {w['request_s_sum']:.3f} |",
                      f"| reference | {rw['wall_s']:.2f} | {rw['client_cpu_s']:.2f} | {rw['server_cpu_s']:.2f} | | | |", ""]
    if "memory" in results:
        mem = results["memory"]
        lines += ["### Memory while moving one file (upload, then download)", "",
                  "| server | file MiB | RSS before MiB | VmHWM growth after upload | after download | sampled RSS growth | target (< 64 MiB) |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for name, v in mem.items():
            ok = v["hwm_growth_total_mib"] < 64
            lines.append(f"| {name}{' (largest of ' + str(v['processes']) + ' processes)' if v['processes'] > 1 else ''} | "
                         f"{v['size_mib']} | {v['rss_before_mib']:.1f} | +{v['hwm_growth_upload_mib']:.1f} | "
                         f"+{v['hwm_growth_total_mib']:.1f} | +{v['sampled_rss_growth_mib']:.1f} | "
                         f"{verdict(ok) if name == 'ours' else '-'} |")
            if name == "ours":
                targets.append((f"peak RSS growth {v['hwm_growth_total_mib']:.1f} MiB moving {v['size_mib']} MiB", ok))
        lines.append("")
    if "scale" in results:
        s = results["scale"]
        lines += [f"### Scale: {s['recipes']:,} recipes x 3 revisions (ours only; loaded with SQL into the server's own tables)", "",
                  "| backend | query | c=1 req/s | c=1 p99 ms | c={0} req/s | c={0} p99 ms | target | c=1 | c={0} |".format(profile["connections"]),
                  "|---|---|---:|---:|---:|---:|---|---|---|"]
        for backend, b in s["backends"].items():
            for query, by_c in b["queries"].items():
                one, many = by_c[1], by_c[profile["connections"]]
                limit = 2 if "latest" in query else 50
                ok1, okn = one["p99_ms"] < limit and one["errors"] == 0, many["p99_ms"] < limit and many["errors"] == 0
                lines.append(f"| {backend} | {query} | {one['rps']:,.0f} | {one['p99_ms']:.2f} | {many['rps']:,.0f} | "
                             f"{many['p99_ms']:.2f} | p99 < {limit} ms | {verdict(ok1)} | {verdict(okn)} |")
                targets.append((f"scale {backend} {query}: p99 {one['p99_ms']:.2f} ms (c=1), {many['p99_ms']:.2f} ms (c={profile['connections']})", ok1 and okn))
        lines += ["", f"Packages API listing (`GET /api/v4/projects/1/packages`, 20 per page, 1 connection) over the same "
                  f"{s['recipes']:,} recipes:", "",
                  "| backend | query | req/s | p50 ms | p99 ms | target | |", "|---|---|---:|---:|---:|---|---|"]
        for backend, b in s["backends"].items():
            for query, v in b.get("catalog", {}).items():
                ok = v["p99_ms"] < 20 and v["errors"] == 0
                lines.append(f"| {backend} | {query} | {v['rps']:,.0f} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | p99 < 20 ms | {verdict(ok)} |")
                targets.append((f"catalog {backend} {query}: p99 {v['p99_ms']:.2f} ms", ok))
        lines.append("")
    if "cleanup" in results:
        c = results["cleanup"]
        lines += [f"### Cleanup run: {c['recipes']:,} references x {c['revisions']} recipe revisions, keep 2 "
                  "(ours only; loaded with SQL; revisions without files)", "",
                  "| backend @ cleanup.work_percent | revisions removed | run s | removals/s | latest p99 idle ms | latest p99 during ms | ratio | target (<= 2x) |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for backend, b in c["backends"].items():
            ratio = b["during"]["p99_ms"] / max(b["idle"]["p99_ms"], 1e-3)
            ok = ratio <= 2 and b["during"]["errors"] == 0
            lines.append(f"| {backend} | {b['removed']:,} | {b['run_seconds']:.1f} | {b['removed'] / max(b['run_seconds'], 1e-3):,.0f} | "
                         f"{b['idle']['p99_ms']:.2f} | {b['during']['p99_ms']:.2f} | {ratio:.2f}x | {verdict(ok)} |")
            targets.append((f"cleanup {backend}: latest p99 during a run {ratio:.2f}x idle", ok))
        lines.append("")
    if "web" in results:
        w = results["web"]
        names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
        backends = list(w["backends"])
        first = w["backends"][backends[0]]
        lines += [f"### Web pages: a public project of {w['recipes']:,} recipes, anonymous visitor, 1 connection", "",
                  f"{w['recipes'] - w['detailed']:,} recipes x 3 revisions loaded with SQL (no files) and {w['detailed']} "
                  "uploaded over the Conan API with files, binaries (settings, options, requires) and package revisions "
                  "(" + ", ".join(f"{names[b]}: SQL {v['sql_fill_seconds']:.1f} s, {v['upload']['puts']:,} PUTs in "
                                  f"{v['upload']['seconds']:.1f} s" for b, v in w["backends"].items()) + "). "
                  f"Each page type: {w['requests']} GETs one after another on one keep-alive connection, cycling "
                  "through its URLs, after an untimed warm-up. *server* is the access log's `duration_ms` (middleware "
                  "to the last byte handed to the socket); *client* is request sent to body read over loopback, "
                  "Python's `http.client` included. Bodies and rows: the largest body, and the most `<tr>` in one "
                  "`<tbody>`, over every answer."
                  + (f" The project's own last page, {w['true_last_page']['page']:,}, answers "
                     f"{w['true_last_page']['status']} (pages stop at {WEB_MAX_PAGE:,}), so the deepest reachable page "
                     "is measured instead." if w.get("true_last_page", {}).get("status", 200) != 200 else ""), "",
                  "| page (URLs cycled) | " + " | ".join(f"{names[b]} server p50 / p99 ms | {names[b]} client p99 ms"
                                                      for b in backends)
                  + " | largest body | most rows | p99 < 20 ms | body < 200 KB | rows <= 25 |",
                  "|---|" + "---:|---:|" * len(backends) + "---:|---:|---|---|---|"]
        for page, row in first["pages"].items():
            cells, p99s = [], []
            for b in backends:
                v = w["backends"][b]["pages"][page]
                p99 = v.get("server_p99_ms", v["client_p99_ms"])
                p99s.append((names[b], p99))
                server = (f"{v['server_p50_ms']:.2f} / {v['server_p99_ms']:.2f}" if "server_p99_ms" in v
                          else "- (no access log)")
                cells.append(f"{server} | {v['client_p99_ms']:.2f}")
            body = max(w["backends"][b]["pages"][page]["max_body_bytes"] for b in backends)
            rows = max(w["backends"][b]["pages"][page]["max_rows"] for b in backends)
            fast, small, short = all(p < 20 for _, p in p99s), body < 200_000, rows <= 25
            lines.append(f"| {page} ({row['urls']}) | " + " | ".join(cells) + f" | {body / 1000:.1f} KB | {rows} | "
                         f"{verdict(fast)} | {verdict(small)} | {verdict(short)} |")
            targets.append((f"web {page}: p99 " + ", ".join(f"{n} {p:.2f} ms" for n, p in p99s)
                            + f"; largest body {body / 1000:.1f} KB; {rows} rows", fast and small and short))
        lines.append("")
    if "remote" in results:
        x = results["remote"]
        size, u, mem = x["size_mib"], x["uncached"], x["memory"]
        direct_s = statistics.mean(r["total_s"] for r in u["direct"])
        remote_s = statistics.mean(r["total_s"] for r in u["remote"])
        first, grown = direct_s / remote_s, max(mem["hwm_growth_mib"], mem["sampled_rss_growth_mib"])
        lines += [f"### Remote project (upstream: a second conan-registry on loopback; {size} MiB file, "
                  f"{x['rounds']} rounds, alternating which side goes first)", "",
                  "First read of an uncached package revision as a client makes it: the revision's file list (which "
                  "fetches the whole revision into the registry's store), then the file with curl; directly from the "
                  "upstream, and through the remote project. CPU seconds of each server during each request.", "",
                  "| read | round | list s | GET s | total s | MiB/s | registry CPU s (list / GET) | upstream CPU s (list / GET) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name in ("direct", "remote"):
            for index, r in enumerate(u[name]):
                cpu_list, cpu_get = r["cpu_list_s"], r["cpu_get_s"]
                lines.append(f"| {name} | {index + 1} | {r['list_s']:.2f} | {r['get_s']:.2f} | {r['total_s']:.2f} | "
                             f"{size / r['total_s']:,.0f} | {cpu_list['registry']:.2f} / {cpu_get['registry']:.2f} | "
                             f"{cpu_list['upstream']:.2f} / {cpu_get['upstream']:.2f} |")
        lines += ["", f"Mean: direct {size / direct_s:,.0f} MiB/s, through the remote project {size / remote_s:,.0f} MiB/s, "
                  f"{first:.2f} of direct (target >= 0.8: {verdict(first >= 0.8)}). The registry's memory over these reads: "
                  f"RSS {mem['rss_before_mib']:.1f} MiB before, VmHWM +{mem['hwm_growth_mib']:.1f} MiB, sampled RSS "
                  f"+{mem['sampled_rss_growth_mib']:.1f} MiB (target < 64 MiB: {verdict(grown < 64)}). For scale: dd "
                  f"conv=fsync {x['disk_dd_fsync']:,.0f} MiB/s; a PUT of the same {size} MiB to the local project "
                  f"(Python client) {size / x['local_upload_s']:,.0f} MiB/s.", ""]
        c, latest = x["cached"], x["latest"]
        # The median: one 1 GiB download lasts about a second, and on shared cores single rounds
        # swing by 2x either way.
        local_mib_s, remote_mib_s = statistics.median(c["local"]), statistics.median(c["remote"])
        download, rate = remote_mib_s / local_mib_s, latest["remote"]["rps"] / latest["local"]["rps"]
        lines += [f"Cached reads in the same registry: the {size} MiB file (curl, 1 stream; the remote project's copy of "
                  f"the first round's revision, the same bytes uploaded to the local project), and recipe `latest` over "
                  f"{x['recipes']} recipes x {x['revisions']} revisions (wrk, {profile['connections']} connections, "
                  f"{profile['rounds']} x {profile['wrk_seconds']} s per project; lists cached, time to live 3,600 s; "
                  f"upstream requests during wrk: {latest['upstream_requests_during_wrk']}).", "",
                  "| read | local project | remote project | remote / local | target |", "|---|---:|---:|---:|---|",
                  f"| {size} MiB download MiB/s (rounds: local {[round(v) for v in c['local']]}, remote "
                  f"{[round(v) for v in c['remote']]}), median (mean: local {statistics.mean(c['local']):,.0f}, remote "
                  f"{statistics.mean(c['remote']):,.0f}) | {local_mib_s:,.0f} | {remote_mib_s:,.0f} | {download:.2f} | "
                  f">= 0.95: {verdict(download >= 0.95)} |"]
        lines += [f"| recipe `latest` req/s | {latest['local']['rps']:,.0f} | {latest['remote']['rps']:,.0f} | {rate:.2f} | "
                  f">= 0.9: {verdict(rate >= 0.9)} |",
                  f"| recipe `latest` p99 ms (worst round) | {latest['local']['p99_ms']:.2f} | "
                  f"{latest['remote']['p99_ms']:.2f} | - | - |"]
        lines.append("")
        if latest["local"]["errors"] or latest["remote"]["errors"]:
            lines += [f"wrk errors: local {latest['local']['errors']}, remote {latest['remote']['errors']}.", ""]
        targets += [(f"remote cached `latest`: {rate:.2f} of local", rate >= 0.9 and latest["remote"]["errors"] == 0),
                    (f"remote cached {size} MiB download: {download:.2f} of local", download >= 0.95),
                    (f"remote uncached {size} MiB list + download: {first:.2f} of the upstream directly", first >= 0.8),
                    (f"remote uncached read: registry memory +{grown:.1f} MiB", grown < 64)]
    if "accesslog" in results:
        x = results["accesslog"]
        figures, on = x["figures"], x["figures"]["on (default)"]
        lines += [f"### Access log cost (recipe `latest` over {x['recipes']} recipes and `/-/health`, wrk "
                  f"{profile['connections']} connections, {profile['rounds'] * 2} x {profile['wrk_seconds']} s per "
                  "server, the three servers in turn; each server's log goes to a file)", "",
                  "| access log | `latest` req/s | p99 ms | vs on | `/-/health` req/s | p99 ms | vs on | `/-/health` lines / requests |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for mode, f in figures.items():
            lines.append(f"| {mode} | {f['latest']['rps']:,.0f} | {f['latest']['p99_ms']:.2f} | "
                         f"{f['latest']['rps'] / on['latest']['rps']:.2f} | {f['health']['rps']:,.0f} | "
                         f"{f['health']['p99_ms']:.2f} | {f['health']['rps'] / on['health']['rps']:.2f} | "
                         f"{x['access_lines'][mode]:,} / {x['requests'][mode]:,} |")
        lines.append("")
    if results.get("load_average"):
        lines += ["Machine load while measuring (1-minute load average on these 2 cores, before -> after each section; "
                  "other work shares the machine): " + "; ".join(
                      f"{name} {v['before']:.1f} -> {v['after']:.1f} ({v['minutes']:.1f} min)"
                      for name, v in results["load_average"].items()) + ".", ""]
    lines += ["### Targets", ""] + [f"- {verdict(ok)}: {text}" for text, ok in targets] + [""]
    return "\n".join(lines)


def environment(args):
    def first_line(command):
        try:
            result = subprocess.run(command, capture_output=True, text=True)
            return (result.stdout or result.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    cpu = "?"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = int(pathlib.Path("/proc/meminfo").read_text().split()[1]) / (1 << 20)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(), "cpu": cpu, "memory_gib": memory, "kernel": os.uname().release,
        "conan_server": importlib.metadata.version("conan_server"),
        "gunicorn": importlib.metadata.version("gunicorn"), "workers": os.cpu_count(),
        "wrk": first_line(["wrk", "-v"]), "nginx": first_line(["nginx", "-v"]),
        "hyperfine": first_line(["hyperfine", "--version"]),
        "command": "scripts/bench " + " ".join(args.argv),
        "binary": str(BINARY),
    }


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data, short durations (a smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--cleanup-recipes", type=int, default=None,
                        help="references for the cleanup section (default: the profile's)")
    parser.add_argument("--cleanup-work-percent", default=None,
                        help="comma-separated cleanup.work_percent values to run the cleanup section at (default: 100,50)")
    parser.add_argument("--scale-recipes", type=int, default=None,
                        help="recipes in the scale section (default: 100000, or 10000 with --quick; at most 1000000)")
    parser.add_argument("--web-recipes", type=int, default=None,
                        help="recipes in the web section's public project (default: 100000, or 2000 with --quick)")
    parser.add_argument("--web-requests", type=int, default=None,
                        help="timed requests per page type in the web section (default: 300, or 40 with --quick)")
    parser.add_argument("--workdir", default=None, help="where temporary data goes (default: $TMPDIR)")
    args = parser.parse_args(argv)
    args.argv = argv
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    profile = dict(PROFILES["quick" if args.quick else "full"])
    if args.cleanup_recipes:
        profile["cleanup_recipes"] = args.cleanup_recipes
    if args.cleanup_work_percent:
        profile["cleanup_work_percents"] = [int(value) for value in args.cleanup_work_percent.split(",")]
    if args.scale_recipes:
        if not 0 < args.scale_recipes <= 1_000_000:
            parser.error("--scale-recipes: 1 to 1000000 (the names are pkg000000 to pkg999999)")
        profile["scale_recipes"] = args.scale_recipes
    if args.web_recipes:
        profile["web_recipes"] = args.web_recipes
    if args.web_requests:
        profile["web_requests"] = args.web_requests
    if not BINARY.exists():
        parser.error(f"{BINARY} is missing: build it with cargo build --release -p conan-registry")

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    results = {"environment": environment(args), "profile": profile, "sections": sections}
    started = time.time()
    with contextlib.ExitStack() as stack:
        work = pathlib.Path(tempfile.mkdtemp(prefix="conan-bench-", dir=args.workdir))
        stack.callback(shutil.rmtree, work, True)
        log(f"working in {work}")
        load = results["load_average"] = {}

        def timed(name, function, *extra):
            begun = time.time()
            before = os.getloadavg()[0]
            function(profile, work, results, *extra)
            load[name] = {"before": before, "after": os.getloadavg()[0], "minutes": (time.time() - begun) / 60}
            log(f"{name}: done in {load[name]['minutes']:.1f} min; 1-minute load average {before:.1f} -> {load[name]['after']:.1f}")

        try:
            if "metadata" in sections:
                timed("metadata", section_metadata)
            if "accesslog" in sections:
                timed("accesslog", section_accesslog)
            if "files" in sections or "mixed" in sections:
                timed("files+mixed", section_files_and_mixed, sections)
            if "memory" in sections:
                timed("memory", section_memory)
            if "clients" in sections:
                timed("clients", section_clients)
            if "scale" in sections:
                timed("scale", section_scale)
            if "cleanup" in sections:
                timed("cleanup", section_cleanup)
            if "web" in sections:
                timed("web", section_web)
            if "remote" in sections:
                timed("remote", section_remote)
        except BaseException:
            # Keep the servers' logs: they say why.
            kept = RESULTS / f"failed-{time.strftime('%Y%m%d-%H%M%S')}"
            kept.mkdir(parents=True, exist_ok=True)
            for path in work.glob("*.log"):
                shutil.copy(path, kept / path.name)
            log(f"failed: server logs kept in {kept}")
            raise
    results["elapsed_s"] = time.time() - started
    text = report(results, args, profile)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"compare-{stamp}.md").write_text(text)
    (RESULTS / f"compare-{stamp}.json").write_text(json.dumps(results, indent=1, default=str))
    print(text)
    log(f"written to {RESULTS}/compare-{stamp}.md and .json")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        log("interrupted: everything started was stopped and removed")
        sys.exit(130)
