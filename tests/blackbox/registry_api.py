"""The Conan v2 API spoken directly (requests), plus views of a server's stored state: what
the black-box reliability tests (faults, races, hostile input) need beyond the real clients.
"""

import hashlib
import pathlib
import sqlite3

import requests

from conftest import ADMIN_PASSWORD


def manifest_for(files):
    """A conanmanifest.txt for `files` ({path: bytes}) in the client's layout."""
    return (
        "1700000000\n"
        + "".join(f"{path}: {hashlib.md5(data).hexdigest()}\n" for path, data in sorted(files.items()))
    ).encode()


def recipe_files(seed, size=64):
    """A small recipe revision's files, different for every `seed`, manifest included."""
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    files = {
        "conanfile.py": f"# recipe {seed}\nfrom conan import ConanFile\n".encode(),
        "conan_export.tgz": b"\x1f\x8b" + body[:size],
    }
    files["conanmanifest.txt"] = manifest_for(files)
    return files


def revision_of(files):
    """The recipe revision the client would compute: the manifest's md5."""
    return hashlib.md5(files["conanmanifest.txt"]).hexdigest()


def digests(data):
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


class Api:
    """One caller of a server's v2 API at the project prefix (or `base`)."""

    def __init__(self, server, token=None, base=None, timeout=60):
        self.server = server
        self.base = base or server.project_remote()
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()

    @classmethod
    def login(cls, server, user="admin", password=ADMIN_PASSWORD, **kwargs):
        response = requests.get(
            f"{server.project_remote()}/v2/users/authenticate", auth=(user, password), timeout=30
        )
        assert response.status_code == 200, (response.status_code, response.text)
        return cls(server, token=response.text, **kwargs)

    def headers(self, extra=None):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def recipe_url(self, name, version="1.0", user="_", channel="_"):
        return f"{self.base}/v2/conans/{name}/{version}/{user}/{channel}"

    def get(self, url, **kwargs):
        return self.session.get(url, headers=self.headers(kwargs.pop("headers", None)), timeout=self.timeout, **kwargs)

    def put(self, url, data, checksum=True, **kwargs):
        extra = kwargs.pop("headers", None) or {}
        if checksum and isinstance(data, bytes):
            extra["X-Checksum-Sha1"] = hashlib.sha1(data).hexdigest()
        return self.session.put(url, data=data, headers=self.headers(extra), timeout=self.timeout, **kwargs)

    def delete(self, url):
        return self.session.delete(url, headers=self.headers(), timeout=self.timeout)

    def upload_revision(self, name, files, version="1.0", rrev=None, statuses=None):
        """PUTs `files` (manifest last, which commits the revision); returns the revision. With a
        `statuses` list every status is appended there instead of asserted."""
        rrev = rrev or revision_of(files)
        base = f"{self.recipe_url(name, version)}/revisions/{rrev}/files"
        ordered = [path for path in files if path != "conanmanifest.txt"] + ["conanmanifest.txt"]
        for path in ordered:
            response = self.put(f"{base}/{path}", files[path])
            if statuses is None:
                assert response.status_code == 200, (path, response.status_code, response.text)
            else:
                statuses.append(("PUT", path, response.status_code, response.text[:200]))
        return rrev

    def revisions(self, name, version="1.0"):
        """The revision ids newest first, or None on a 404."""
        response = self.get(f"{self.recipe_url(name, version)}/revisions")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, (response.status_code, response.text)
        return [entry["revision"] for entry in response.json()["revisions"]]

    def files(self, name, rrev, version="1.0"):
        """The file names of a revision, or None on a 404."""
        response = self.get(f"{self.recipe_url(name, version)}/revisions/{rrev}/files")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, (response.status_code, response.text)
        return sorted(response.json()["files"])

    def download(self, name, rrev, path, version="1.0"):
        return self.get(f"{self.recipe_url(name, version)}/revisions/{rrev}/files/{path}")


def blob_root(server):
    return pathlib.Path(server.env.get("CONAN_REGISTRY__BLOBS__ROOT") or server.data_dir / "blobs")


def stored_blobs(server):
    """{relative path: size} of every published blob file."""
    root = blob_root(server) / "sha256"
    if not root.exists():
        return {}
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*") if path.is_file()}


def staging_files(server):
    """Every file under the blob store's staging area (uploads in progress or left behind)."""
    root = blob_root(server) / "staging"
    if not root.exists():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


# Everything a request could change, minus bookkeeping that reads also touch.
STATE_QUERIES = {
    "projects": "SELECT id, path, visibility FROM projects ORDER BY id",
    "users": "SELECT id, username, password_hash, is_admin, is_active FROM users ORDER BY id",
    "memberships": "SELECT * FROM memberships ORDER BY project_id, user_id",
    "personal_access_tokens": "SELECT id, user_id, token_hash, scopes, expires_at, revoked_at FROM personal_access_tokens ORDER BY id",
    "deploy_tokens": "SELECT * FROM deploy_tokens ORDER BY id",
    "signing_keys": "SELECT * FROM signing_keys ORDER BY id",
    # Not last_downloaded_at: the download recorder writes it on its own schedule, after any
    # download, so it may move during a block that downloads nothing.
    "recipes": "SELECT id, project_id, name, version, user_name, channel, created_at, updated_at, committed "
               "FROM recipes ORDER BY id",
    "package_protection_rules": "SELECT * FROM package_protection_rules ORDER BY id",
    "recipe_revisions": "SELECT * FROM recipe_revisions ORDER BY id",
    "package_references": "SELECT * FROM package_references ORDER BY id",
    "package_revisions": "SELECT * FROM package_revisions ORDER BY id",
    "blobs": "SELECT * FROM blobs ORDER BY sha256",
    "files": "SELECT * FROM files ORDER BY id",
    "cleanup_policies": "SELECT * FROM cleanup_policies ORDER BY project_id",
    "cleanup_runs": "SELECT * FROM cleanup_runs ORDER BY id",
    "cleanup_removals": "SELECT * FROM cleanup_removals ORDER BY id",
}


def sqlite_rows(server, query):
    connection = sqlite3.connect(f"file:{server.data_dir / 'registry.db'}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def state(server):
    """Every stored row (SQLite) and blob file: equal before and after a refused request means
    the request changed nothing."""
    rows = {table: sqlite_rows(server, query) for table, query in STATE_QUERIES.items()}
    return {"rows": rows, "blobs": stored_blobs(server), "staging": staging_files(server)}
