"""S3-protocol servers of a test's own: Garage (a real S3 implementation) through
scripts/garage-test-server, which it can also kill and restart on the same data."""

import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

import pytest
import requests

from conftest import ROOT

GARAGE_SCRIPT = ROOT / "scripts" / "garage-test-server"


def garage_binary():
    return shutil.which("garage") or str(pathlib.Path.home() / ".cargo" / "bin" / "garage")


class Garage:
    """A single-node Garage with `buckets` that the test key may read, write and own. `s3` holds
    what a client needs: endpoint, region, access_key_id, secret_access_key."""

    def __init__(self, state_dir, buckets=("conan",)):
        if not pathlib.Path(garage_binary()).exists():
            pytest.fail("garage is missing: run scripts/garage-test-server install (scripts/test-all does)")
        self.state = pathlib.Path(state_dir)
        self.script_env = dict(os.environ, GARAGE_TEST_STATE=str(self.state))
        started = subprocess.run(["bash", str(GARAGE_SCRIPT), "start", *buckets], capture_output=True,
                                 text=True, env=self.script_env, timeout=180)
        assert started.returncode == 0, started.stderr
        exports = dict(re.findall(r"^export CONAN_REGISTRY_TEST_GARAGE_(\w+)=(\S+)$", started.stdout, re.M))
        self.s3 = {"endpoint": exports["ENDPOINT"], "region": exports["REGION"],
                   "access_key_id": exports["ACCESS_KEY_ID"], "secret_access_key": exports["SECRET_ACCESS_KEY"]}
        self.pid = int((self.state / "pid").read_text())
        # A server started by `restart`, which the script does not know about.
        self.restarted = None

    def answers(self):
        try:
            requests.get(self.s3["endpoint"], timeout=2)
            return True
        except requests.exceptions.ConnectionError:
            return False

    def kill(self):
        """SIGKILL, as a crash would; the data stays on disk."""
        if self.restarted is not None:
            self.restarted.kill()
            self.restarted.wait()
            return
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.time() + 20
        while pathlib.Path(f"/proc/{self.pid}").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert not self.answers(), "garage still answers after SIGKILL"

    def restart(self):
        """Starts the server again on the same configuration, ports and data."""
        log = open(self.state / "garage-restarted.log", "ab")
        self.restarted = subprocess.Popen([garage_binary(), "-c", str(self.state / "garage.toml"), "server"],
                                          stdout=log, stderr=log, env=dict(os.environ, RUST_LOG="warn"))
        deadline = time.time() + 60
        while not self.answers():
            assert time.time() < deadline and self.restarted.poll() is None, "garage did not restart"
            time.sleep(0.2)

    def stop(self):
        if self.restarted is not None:
            self.restarted.terminate()
            self.restarted.wait(timeout=20)
        # Stops the first server unless it was killed (the script checks the pid is garage's).
        subprocess.run(["bash", str(GARAGE_SCRIPT), "stop"], env=self.script_env, check=True, timeout=60)


def blob_env(s3, bucket="conan", prefix="registry"):
    """The registry's settings for blobs in `bucket` of the S3 server `s3`, under `prefix`."""
    return {
        "CONAN_REGISTRY__BLOBS__KIND": "s3",
        "CONAN_REGISTRY__BLOBS__ENDPOINT": s3["endpoint"],
        "CONAN_REGISTRY__BLOBS__REGION": s3["region"],
        "CONAN_REGISTRY__BLOBS__BUCKET": bucket,
        "CONAN_REGISTRY__BLOBS__ACCESS_KEY_ID": s3["access_key_id"],
        "CONAN_REGISTRY__BLOBS__SECRET_ACCESS_KEY": s3["secret_access_key"],
        "CONAN_REGISTRY__BLOBS__ALLOW_HTTP": "true",
        "CONAN_REGISTRY__BLOBS__PREFIX": prefix,
    }
