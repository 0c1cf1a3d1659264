"""Virtual projects with the real Conan 2 client, on SQLite and PostgreSQL: one remote URL serves
its members in order, skipping the members a user may not read, so a public member never shadows
an internal package of the same name for a user who may read both (dependency confusion) while
a user who may not read the internal one gets the public one; searches merge the readable members
once each; uploads land in the deploy member with its permissions, or are refused without one.
The admin command line refuses nesting, cycles, unknown projects and duplicates and changes
nothing."""

import hashlib
import re

import pytest

from conftest import CONAN2_VERSIONS, Conan, Server, write_recipe
from pgserver import shared_database

INTERNAL = "team/internal"
PUBLIC = "team/public"
VIRTUAL = "team/all"


@pytest.fixture(params=["sqlite", "postgres"])
def vserver(request, tmp_path):
    if request.param == "sqlite":
        instance = Server(tmp_path / "data")
        yield instance
        instance.stop()
        return
    with shared_database() as url:
        instance = Server(tmp_path / "data", {"CONAN_REGISTRY__DATABASE__URL": url})
        yield instance
        instance.stop()


@pytest.fixture
def client(tmp_path_factory):
    """Makes fresh Conan 2 clients (the newest version the harness has)."""

    def make():
        return Conan(CONAN2_VERSIONS[0], tmp_path_factory.mktemp("conan-home"))

    return make


def create_project(server, path, *args):
    out = server.admin("project", "create", path, *args).stdout
    return int(re.search(r"\(id (\d+),", out).group(1))


def user(server, name, project=None, role=None):
    server.admin("user", "create", name, "--password-stdin", stdin=f"{name}-password\n")
    if project:
        server.admin("member", "add", project, name, role)


def remote(conan, name, url, user=None, password=None):
    conan.run("remote", "add", name, url)
    if user:
        conan.run("remote", "login", name, user, "-p", password)


def publish(conan, tmp_path, remote_name, name, version, source):
    """Creates `name/version` with `source` and uploads it; returns its recipe revision."""
    directory = write_recipe(tmp_path / f"{remote_name}-{name}", name=name, version=version, source=source)
    conan.run("create", str(directory), "-s", "arch=x86_64")
    conan.run("upload", f"{name}/{version}", "-r", remote_name, "-c")
    listing = conan.json("list", f"{name}/{version}#*", "-r", remote_name)[remote_name]
    (revision,) = listing[f"{name}/{version}"]["revisions"]
    return revision


def listed(conan, remote_name, pattern):
    result = conan.json("list", pattern, "-r", remote_name)[remote_name]
    assert "error" not in result, result
    return result


@pytest.fixture
def layout(vserver, client, tmp_path):
    """A (private, internal packages), B (public), V = [A, B] (internal) deploying to A, with
    zlib/1.3 in both and onlyb/1.0 in B alone. Returns the ids and the revisions."""
    ids = {
        "A": create_project(vserver, INTERNAL, "--visibility", "private"),
        "B": create_project(vserver, PUBLIC, "--visibility", "public"),
        "V": create_project(vserver, VIRTUAL, "--virtual", "--visibility", "internal"),
    }
    vserver.admin("virtual", "add", VIRTUAL, INTERNAL)
    vserver.admin("virtual", "add", VIRTUAL, PUBLIC)
    vserver.admin("virtual", "deploy", VIRTUAL, INTERNAL)
    user(vserver, "insider", INTERNAL, "developer")
    user(vserver, "outsider")
    user(vserver, "reader", INTERNAL, "reporter")

    # Two publishers, so each cache holds one revision of zlib/1.3.
    revisions = {}
    for key, source in (("A", "int internal = 1;\n"), ("B", "int upstream = 2;\n")):
        publisher = client()
        remote(publisher, key, vserver.project_remote(ids[key]), "admin", "admin-password-1")
        revisions[key] = publish(publisher, tmp_path / key, key, "zlib", "1.3", source)
        if key == "B":
            revisions["onlyb"] = publish(publisher, tmp_path / key, key, "onlyb", "1.0", "int b;\n")
    assert revisions["A"] != revisions["B"]
    return ids, revisions


def test_members_answer_in_order_for_whom_may_read_them(vserver, client, layout):
    ids, revisions = layout
    url = vserver.project_remote(ids["V"])

    insider = client()
    remote(insider, "v", url, "insider", "insider-password")
    assert list(listed(insider, "v", "zlib/1.3#*")["zlib/1.3"]["revisions"]) == [revisions["A"]]
    insider.run("install", "--requires=zlib/1.3", "-r", "v", "-s", "arch=x86_64")
    local = insider.json("list", "zlib/1.3#*")["Local Cache"]["zlib/1.3"]["revisions"]
    assert list(local) == [revisions["A"]], "the internal package, never the public one"
    # Everything under the recipe comes from the same member: its binaries too.
    binaries = listed(insider, "v", f"zlib/1.3#{revisions['A']}:*")
    assert binaries["zlib/1.3"]["revisions"][revisions["A"]]["packages"], binaries

    # Someone who may not read A is answered by B, as if A were not there.
    outsider = client()
    remote(outsider, "v", url, "outsider", "outsider-password")
    assert list(listed(outsider, "v", "zlib/1.3#*")["zlib/1.3"]["revisions"]) == [revisions["B"]]
    outsider.run("install", "--requires=zlib/1.3", "-r", "v", "-s", "arch=x86_64")
    local = outsider.json("list", "zlib/1.3#*")["Local Cache"]["zlib/1.3"]["revisions"]
    assert list(local) == [revisions["B"]]
    # A's revision is not reachable through V for them, even by its id.
    missing = outsider.json("list", f"zlib/1.3#{revisions['A']}", "-r", "v")["v"]
    assert "not found" in missing.get("error", ""), missing

    # A reference only B has is served through V.
    insider.run("install", "--requires=onlyb/1.0", "-r", "v", "-s", "arch=x86_64")
    assert list(listed(insider, "v", "onlyb/1.0#*")["onlyb/1.0"]["revisions"]) == [revisions["onlyb"]]

    # Search and list merge the readable members, each reference once.
    assert sorted(listed(insider, "v", "*")) == ["onlyb/1.0", "zlib/1.3"]
    searched = insider.run("search", "*", "-r", "v").stdout
    assert searched.count("zlib/1.3") == 1 and searched.count("onlyb/1.0") == 1, searched
    assert sorted(listed(outsider, "v", "*")) == ["onlyb/1.0", "zlib/1.3"]

    # A reference no readable member has is a 404, as from an ordinary project.
    absent = insider.fail("install", "--requires=nothing/9.9", "-r", "v", "-s", "arch=x86_64")
    assert "nothing/9.9" in absent.stdout + absent.stderr


def test_the_virtual_projects_own_visibility_decides_who_may_use_it(vserver, client, layout):
    ids, _ = layout
    anonymous = client()
    remote(anonymous, "v", vserver.project_remote(ids["V"]))
    assert "error" in anonymous.json("list", "zlib/1.3#*", "-r", "v")["v"]
    # A private virtual project is a 404 to outsiders, whatever its members are.
    hidden = create_project(vserver, "team/hidden", "--virtual", "--visibility", "private")
    vserver.admin("virtual", "add", "team/hidden", PUBLIC)
    outsider = client()
    remote(outsider, "h", vserver.project_remote(hidden), "outsider", "outsider-password")
    refused = outsider.json("list", "zlib/1.3#*", "-r", "h")["h"]
    assert "Project Not Found" in refused.get("error", ""), refused


def test_uploads_land_in_the_deploy_member_with_its_permissions(vserver, client, layout, tmp_path):
    ids, revisions = layout
    url = vserver.project_remote(ids["V"])
    admin = client()
    remote(admin, "A", vserver.project_remote(ids["A"]), "admin", "admin-password-1")
    remote(admin, "B", vserver.project_remote(ids["B"]), "admin", "admin-password-1")

    insider = client()
    remote(insider, "v", url, "insider", "insider-password")
    uploaded = publish(insider, tmp_path / "insider", "v", "newpkg", "1.0", "int fresh;\n")
    assert list(listed(admin, "A", "newpkg/1.0#*")["newpkg/1.0"]["revisions"]) == [uploaded]
    assert "newpkg/1.0" not in listed(admin, "B", "*")

    # No upload rights in A (a reporter there, or not a member at all): refused, nothing stored.
    for name in ("reader", "outsider"):
        other = client()
        remote(other, "v", url, name, f"{name}-password")
        directory = write_recipe(tmp_path / name, name=f"by{name}", version="1.0")
        other.run("create", str(directory), "-s", "arch=x86_64")
        refused = other.fail("upload", f"by{name}/1.0", "-r", "v", "-c")
        assert "403" in refused.stdout + refused.stderr or "Forbidden" in refused.stdout + refused.stderr
        assert f"by{name}/1.0" not in listed(admin, "A", "*")

    # Without a deploy member, uploads through V are refused with the reason.
    vserver.admin("virtual", "deploy", VIRTUAL, "--clear")
    directory = write_recipe(tmp_path / "later", name="later", version="1.0")
    insider.run("create", str(directory), "-s", "arch=x86_64")
    refused = insider.fail("upload", "later/1.0", "-r", "v", "-c")
    assert "no deploy member" in refused.stdout + refused.stderr, refused.stderr
    assert "later/1.0" not in listed(admin, "A", "*")
    assert revisions["A"] in listed(admin, "A", "zlib/1.3#*")["zlib/1.3"]["revisions"]


def members(server, path):
    return server.admin("virtual", "list", path).stdout


def test_hostile_command_lines_are_refused_and_change_nothing(vserver, layout):
    create_project(vserver, "team/other-virtual", "--virtual")
    create_project(vserver, "team/plain")
    before = members(vserver, VIRTUAL)
    cases = [
        (["add", VIRTUAL, VIRTUAL], "member of itself"),
        (["add", VIRTUAL, "team/other-virtual"], "cannot be a member of another"),
        (["add", "team/other-virtual", VIRTUAL], "cannot be a member of another"),
        (["add", VIRTUAL, "no/such"], "unknown project"),
        (["add", VIRTUAL, INTERNAL], "already a member"),
        (["add", VIRTUAL, "team/plain", "--position", "0"], "invalid position"),
        (["add", VIRTUAL, "team/plain", "--position", "4"], "invalid position"),
        (["add", "team/plain", PUBLIC], "not a virtual project"),
        (["move", VIRTUAL, "team/plain", "1"], "not a member"),
        (["move", VIRTUAL, PUBLIC, "3"], "invalid position"),
        (["remove", VIRTUAL, "team/plain"], "not a member"),
        (["deploy", VIRTUAL, "team/plain"], "not a member"),
        (["list", "no/such"], "unknown project"),
    ]
    for args, message in cases:
        result = vserver.admin("virtual", *args, check=False)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert "panicked" not in result.stderr
        assert members(vserver, VIRTUAL) == before, args
    listing = vserver.admin("project", "list").stdout
    kinds = {line.split()[1]: line.split()[3:] for line in listing.splitlines()[1:]}
    assert kinds[VIRTUAL] == ["virtual"] and kinds[INTERNAL] == [], listing
    taken = vserver.admin("project", "create", INTERNAL, "--virtual", check=False)
    assert taken.returncode != 0 and "already exists" in taken.stderr

    # The good changes do what they say.
    vserver.admin("virtual", "add", VIRTUAL, "team/plain", "--position", "1")
    vserver.admin("virtual", "move", VIRTUAL, "team/plain", "3")
    lines = members(vserver, VIRTUAL).splitlines()[2:]
    assert [line.split()[2] for line in lines] == [INTERNAL, PUBLIC, "team/plain"], lines
    vserver.admin("virtual", "remove", VIRTUAL, INTERNAL)
    after = members(vserver, VIRTUAL)
    assert INTERNAL not in after and "no deploy member" in after, after


def test_conan1_gets_the_same_resolution_through_the_v1_routes(vserver, layout, tmp_path_factory, tmp_path):
    """Conan 1 without revisions: the v1 routes resolve the same way (recipe snapshots,
    downloads, search, uploads to the deploy member)."""
    from test_conan1 import Conan1, write_recipe1

    ids, _ = layout
    url = vserver.project_remote(ids["V"])
    seen = {}
    for name in ("insider", "outsider"):
        client = Conan1(tmp_path_factory.mktemp(f"conan1-{name}"), revisions=False)
        client.run("remote", "add", "v", url)
        client.run("user", name, "-p", f"{name}-password", "-r", "v")
        client.run("download", "zlib/1.3@", "-r", "v", "--recipe")
        export = client.home / ".conan" / "data" / "zlib" / "1.3" / "_" / "_" / "export"
        seen[name] = (export / "conanmanifest.txt").read_text()
        found = client.run("search", "*", "-r", "v").stdout
        assert found.count("zlib/1.3") == 1 and "onlyb/1.0" in found, found
    # The manifest lists the exported source's md5: A's file for the insider, B's otherwise.
    internal = hashlib.md5(b"int internal = 1;\n").hexdigest()
    upstream = hashlib.md5(b"int upstream = 2;\n").hexdigest()
    assert internal in seen["insider"] and upstream not in seen["insider"], seen
    assert upstream in seen["outsider"] and internal not in seen["outsider"], seen

    uploader = Conan1(tmp_path_factory.mktemp("conan1-upload"), revisions=False)
    uploader.run("remote", "add", "v", url)
    uploader.run("user", "insider", "-p", "insider-password", "-r", "v")
    uploader.run("create", str(write_recipe1(tmp_path / "one", name="fromone")), "-s", "arch=x86_64")
    uploader.run("upload", "fromone/1.0", "--all", "-r", "v", "--confirm")
    admin = Conan(CONAN2_VERSIONS[0], tmp_path_factory.mktemp("conan-home"))
    remote(admin, "A", vserver.project_remote(ids["A"]), "admin", "admin-password-1")
    assert "fromone/1.0" in listed(admin, "A", "*")
