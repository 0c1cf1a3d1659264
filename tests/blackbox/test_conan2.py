"""The real Conan 2 clients (newest and an early 2.0.x) against the real server process."""

import hashlib
import pathlib

import pytest

from conftest import ADMIN_PASSWORD, files_under, write_recipe

REMOTE = "registry"


def login(conan, remote_url, user="admin", password=ADMIN_PASSWORD):
    conan.run("remote", "add", REMOTE, remote_url)
    conan.run("remote", "login", REMOTE, user, "-p", password)


def create(conan, directory, *settings, user=None, channel=None):
    args = ["create", str(directory)]
    if user:
        args += ["--user", user]
    if channel:
        args += ["--channel", channel]
    for setting in settings:
        args += ["-s", setting]
    conan.run(*args)


def remote_refs(conan, pattern):
    """`conan list PATTERN -r REMOTE` as {reference: data}."""
    listing = conan.json("list", pattern, "-r", REMOTE)
    result = listing[REMOTE]
    assert "error" not in result, result
    return result


def revisions_of(conan, reference):
    """The remote's revisions of `reference`, newest first (the client's JSON lists them by
    ascending time, whatever order the server sent)."""
    revisions = remote_refs(conan, f"{reference}#*")[reference]["revisions"]
    return sorted(revisions, key=lambda rrev: revisions[rrev]["timestamp"], reverse=True)


def upload_two_binaries(conan, tmp_path, user=None, channel=None, name="hello"):
    recipe = write_recipe(tmp_path / name, name=name)
    create(conan, recipe, "arch=x86_64", user=user, channel=channel)
    create(conan, recipe, "arch=armv8", user=user, channel=channel)
    reference = f"{name}/1.0" + (f"@{user}" if user else "") + (f"/{channel}" if channel else "")
    conan.run("upload", reference, "-r", REMOTE, "-c")
    return reference


def test_login_with_good_and_wrong_password(server, conan):
    conan.run("remote", "add", REMOTE, server.project_remote())
    wrong = conan.fail("remote", "login", REMOTE, "admin", "-p", "not-the-password")
    assert "Wrong user or password" in wrong.stderr + wrong.stdout
    conan.run("remote", "login", REMOTE, "admin", "-p", ADMIN_PASSWORD)
    users = conan.json("remote", "list-users")
    assert any(entry["authenticated"] and entry["user_name"] == "admin" for entry in users), users


@pytest.mark.parametrize("user_channel", [(None, None), ("team", "stable"), ("team", None)])
def test_upload_list_install_download_round_trip(server, conan, make_conan, tmp_path, user_channel):
    user, channel = user_channel
    login(conan, server.project_remote())
    reference = upload_two_binaries(conan, tmp_path, user=user, channel=channel)

    again = conan.run("upload", reference, "-r", REMOTE, "-c")
    assert "already in server, skipping" in again.stdout + again.stderr

    listing = remote_refs(conan, "*")
    assert reference in listing, listing
    packages = remote_refs(conan, f"{reference}:*")
    revisions = packages[reference]["revisions"]
    assert len(revisions) == 1
    (rrev, data), = revisions.items()
    assert len(data["packages"]) == 2
    settings = sorted(p["info"]["settings"]["arch"] for p in data["packages"].values())
    assert settings == ["armv8", "x86_64"]

    local_package = conan.cache_path(f"{reference}#{rrev}:{next(iter(data['packages']))}")
    expected = files_under(local_package)

    fresh = make_conan()
    fresh.run("remote", "add", REMOTE, server.project_remote())
    fresh.run("remote", "login", REMOTE, "admin", "-p", ADMIN_PASSWORD)
    fresh.run("install", f"--requires={reference}", "-r", REMOTE, "-s", "arch=x86_64")
    package_id = next(pid for pid, p in data["packages"].items() if p["info"]["settings"]["arch"] == "x86_64")
    installed = fresh.cache_path(f"{reference}#{rrev}:{package_id}")
    original = conan.cache_path(f"{reference}#{rrev}:{package_id}")
    assert files_under(installed) == files_under(original)

    other = make_conan()
    other.run("remote", "add", REMOTE, server.project_remote())
    other.run("remote", "login", REMOTE, "admin", "-p", ADMIN_PASSWORD)
    other.run("download", reference, "-r", REMOTE)
    for pid in data["packages"]:
        got = other.cache_path(f"{reference}#{rrev}:{pid}")
        want = conan.cache_path(f"{reference}#{rrev}:{pid}")
        assert files_under(got) == files_under(want)
    assert expected


def test_revisions_list_patterns_and_search(server, conan, tmp_path):
    login(conan, server.project_remote())
    first = write_recipe(tmp_path / "one", source="int answer = 1;\n")
    create(conan, first, "arch=x86_64")
    conan.run("upload", "hello/1.0", "-r", REMOTE, "-c")
    second = write_recipe(tmp_path / "two", source="int answer = 2;\n")
    create(conan, second, "arch=x86_64")
    conan.run("upload", "hello/1.0", "-r", REMOTE, "-c")
    upload_two_binaries(conan, tmp_path, name="zlib")

    revisions = revisions_of(conan, "hello/1.0")
    local = conan.json("list", "hello/1.0#*")["Local Cache"]["hello/1.0"]["revisions"]
    newest_local = max(local, key=lambda rrev: local[rrev]["timestamp"])
    assert revisions[0] == newest_local, "newest first"
    assert len(revisions) == 2

    assert set(remote_refs(conan, "*")) == {"hello/1.0", "zlib/1.0"}
    assert set(remote_refs(conan, "zlib/*")) == {"zlib/1.0"}
    latest = remote_refs(conan, "hello/1.0#latest")["hello/1.0"]["revisions"]
    assert list(latest) == [revisions[0]]
    with_prevs = remote_refs(conan, "zlib/1.0:*#*")["zlib/1.0"]["revisions"]
    for rrev in with_prevs.values():
        for package in rrev["packages"].values():
            assert len(package["revisions"]) == 1

    search = conan.run("search", "z*", "-r", REMOTE)
    assert "zlib/1.0" in search.stdout and "hello/1.0" not in search.stdout
    missing = conan.run("search", "nothing*", "-r", REMOTE, check=False)
    assert "zlib" not in missing.stdout and "hello" not in missing.stdout


def test_remove_package_revision_recipe_revision_packages_and_everything(server, conan, tmp_path):
    login(conan, server.project_remote())
    reference = upload_two_binaries(conan, tmp_path)
    second = write_recipe(tmp_path / "second", source="int answer = 2;\n")
    create(conan, second, "arch=x86_64")
    conan.run("upload", reference, "-r", REMOTE, "-c")
    revisions = revisions_of(conan, reference)
    assert len(revisions) == 2
    newest, oldest = revisions

    packages = remote_refs(conan, f"{reference}#{oldest}:*#*")[reference]["revisions"][oldest]["packages"]
    package_id, package = next(iter(packages.items()))
    prev = next(iter(package["revisions"]))
    conan.run("remove", f"{reference}#{oldest}:{package_id}#{prev}", "-r", REMOTE, "-c")
    left = remote_refs(conan, f"{reference}#{oldest}:*")[reference]["revisions"][oldest]["packages"]
    assert package_id not in left and len(left) == 1

    conan.run("remove", f"{reference}#{oldest}:*", "-r", REMOTE, "-c")
    assert not remote_refs(conan, f"{reference}#{oldest}:*")[reference]["revisions"][oldest].get("packages")

    conan.run("remove", f"{reference}#{oldest}", "-r", REMOTE, "-c")
    assert revisions_of(conan, reference) == [newest]

    conan.run("remove", "*", "-r", REMOTE, "-c")
    listing = conan.json("list", "*", "-r", REMOTE)[REMOTE]
    assert listing == {} or "error" in listing


def test_anonymous_read_of_public_and_login_for_private(server, conan, make_conan, tmp_path):
    server.admin("project", "create", "open/source", "--visibility", "public")
    server.admin("member", "add", "open/source", "admin", "owner")
    login(conan, server.project_remote(2))
    upload_two_binaries(conan, tmp_path)

    anonymous = make_conan()
    anonymous.run("remote", "add", REMOTE, server.project_remote(2))
    assert "hello/1.0" in anonymous.json("list", "*", "-r", REMOTE)[REMOTE]
    anonymous.run("install", "--requires=hello/1.0", "-r", REMOTE, "-s", "arch=x86_64")
    # Anonymous callers cannot write.
    anonymous.fail("remove", "hello/1.0", "-r", REMOTE, "-c")

    # The bootstrap project is private: a 401, then the client logs in from its environment.
    private = make_conan()
    private.run("remote", "add", REMOTE, server.project_remote(1))
    refused = private.run("list", "*", "-r", REMOTE, check=False)
    output = refused.stdout + refused.stderr
    assert "needs authentication" in output or "Please log in" in output, output
    env = {"CONAN_LOGIN_USERNAME_REGISTRY": "admin", "CONAN_PASSWORD_REGISTRY": ADMIN_PASSWORD}
    listed = private.json("list", "*", "-r", REMOTE, env=env)[REMOTE]
    assert "error" not in listed, listed


def test_reporter_upload_is_permission_denied(server, conan, tmp_path):
    server.admin("user", "create", "reporter", "--password-stdin", stdin="reporter-password\n")
    server.admin("member", "add", "demo/packages", "reporter", "reporter")
    login(conan, server.project_remote(), "reporter", "reporter-password")
    recipe = write_recipe(tmp_path / "hello")
    create(conan, recipe, "arch=x86_64")
    denied = conan.fail("upload", "hello/1.0", "-r", REMOTE, "-c")
    assert "Permission denied" in denied.stdout + denied.stderr


def test_large_binary_round_trip(server, conan, make_conan, tmp_path):
    login(conan, server.project_remote())
    big = (
        "import hashlib\n"
        "        blob = os.path.join(self.package_folder, 'lib', 'big.bin')\n"
        "        os.makedirs(os.path.dirname(blob), exist_ok=True)\n"
        "        with open(blob, 'wb') as out:\n"
        "            for chunk in range(200):\n"
        "                out.write(hashlib.sha256(str(chunk).encode()).digest() * 32768)\n"
    )
    recipe = write_recipe(tmp_path / "big", name="big", package_extra=big)
    create(conan, recipe, "arch=x86_64")
    conan.run("upload", "big/1.0", "-r", REMOTE, "-c")
    listing = remote_refs(conan, "big/1.0:*")["big/1.0"]["revisions"]
    (rrev, data), = listing.items()
    package_id = next(iter(data["packages"]))
    original = conan.cache_path(f"big/1.0#{rrev}:{package_id}") / "lib" / "big.bin"
    assert original.stat().st_size == 200 * 1024 * 1024

    fresh = make_conan()
    fresh.run("remote", "add", REMOTE, server.project_remote())
    fresh.run("remote", "login", REMOTE, "admin", "-p", ADMIN_PASSWORD)
    fresh.run("install", "--requires=big/1.0", "-r", REMOTE, "-s", "arch=x86_64")
    copy = fresh.cache_path(f"big/1.0#{rrev}:{package_id}") / "lib" / "big.bin"

    def sha256(path):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    assert sha256(copy) == sha256(original)


def test_instance_prefix_round_trip(server, conan, make_conan, tmp_path):
    # At instance level the recipe's user names the project: demo+packages is demo/packages.
    login(conan, server.instance_remote())
    reference = upload_two_binaries(conan, tmp_path, user="demo+packages", channel="stable")
    assert reference in remote_refs(conan, "*")
    fresh = make_conan()
    fresh.run("remote", "add", REMOTE, server.instance_remote())
    fresh.run("remote", "login", REMOTE, "admin", "-p", ADMIN_PASSWORD)
    fresh.run("install", f"--requires={reference}", "-r", REMOTE, "-s", "arch=armv8")
    conan.run("remove", f"{reference}", "-r", REMOTE, "-c")
    # A user that names no project is refused.
    recipe = write_recipe(tmp_path / "lost", name="lost")
    create(conan, recipe, "arch=x86_64", user="no+such+project")
    conan.fail("upload", "lost/1.0@no+such+project", "-r", REMOTE, "-c")
