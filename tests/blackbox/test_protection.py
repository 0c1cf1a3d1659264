"""Package protection rules with the real Conan 2 clients: rules made with the admin command line
refuse the uploads and deletes they cover with a clear message, change nothing on the remote, and
let the levels they name through; bad rules on the command line are clear errors that store
nothing."""

from conftest import write_recipe
from test_conan2 import REMOTE, create, login, remote_refs

PROJECT = "demo/packages"


def member(server, name, role):
    """Creates user `name` with password `<name>-password` and role `role` in the project."""
    server.admin("user", "create", name, "--password-stdin", stdin=f"{name}-password\n")
    server.admin("member", "add", PROJECT, name, role)


def rules(server):
    """The rule lines of `protection-rule list` (the header dropped)."""
    return server.admin("protection-rule", "list", "--project", PROJECT).stdout.splitlines()[1:]


def test_rules_refuse_what_they_cover_and_let_the_levels_through(server, conan, make_conan, tmp_path):
    member(server, "dev", "developer")
    member(server, "maint", "maintainer")
    added = server.admin("protection-rule", "add", "--project", PROJECT, "--pattern", "Hello*",
                         "--push-level", "maintainer", "--delete-level", "owner").stdout
    assert "created protection rule" in added and "Hello*" in added, added
    (listed,) = rules(server)
    assert listed.split() == ["1", "conan", "maintainer", "owner", "Hello*"], listed

    # A developer's upload of a protected name fails with the reason, and leaves no trace.
    login(conan, server.project_remote(), "dev", "dev-password")
    create(conan, write_recipe(tmp_path / "hello", name="hello"), "arch=x86_64")
    refused = conan.fail("upload", "hello/1.0", "-r", REMOTE, "-c")
    assert "Package protected" in refused.stdout + refused.stderr, refused.stderr
    assert "hello/1.0" not in remote_refs(conan, "*")
    searched = conan.run("search", "hello", "-r", REMOTE, check=False)
    assert "hello/1.0" not in searched.stdout
    # Names the rule does not match are not protected.
    create(conan, write_recipe(tmp_path / "other", name="other"), "arch=x86_64")
    conan.run("upload", "other/1.0", "-r", REMOTE, "-c")

    # A maintainer reaches the push level, but not the delete level.
    maintainer = make_conan()
    login(maintainer, server.project_remote(), "maint", "maint-password")
    create(maintainer, write_recipe(tmp_path / "hello-m", name="hello"), "arch=x86_64")
    maintainer.run("upload", "hello/1.0", "-r", REMOTE, "-c")
    assert "hello/1.0" in remote_refs(maintainer, "*")
    denied = maintainer.fail("remove", "hello/1.0", "-r", REMOTE, "-c")
    assert "deletion protected" in denied.stdout + denied.stderr, denied.stderr
    assert "hello/1.0" in remote_refs(maintainer, "*"), "a refused delete changes nothing"
    # The developer cannot delete at all; that is the role, not the rule.
    conan.fail("remove", "other/1.0", "-r", REMOTE, "-c")

    # A write deploy token is stopped by any matching rule.
    token = server.admin("deploy-token", "create", PROJECT, "--username", "ci",
                         "--scope", "write-package-registry").stdout.strip().splitlines()[-1]
    deployer = make_conan()
    login(deployer, server.project_remote(), "ci", token)
    create(deployer, write_recipe(tmp_path / "hello-ci", name="hello", version="2.0"), "arch=x86_64")
    stopped = deployer.fail("upload", "hello/2.0", "-r", REMOTE, "-c")
    assert "Package protected" in stopped.stdout + stopped.stderr, stopped.stderr
    assert "hello/2.0" not in remote_refs(maintainer, "*")

    # The administrator is never stopped; once the rule is gone, the maintainer deletes too.
    admin = make_conan()
    login(admin, server.project_remote())
    admin.run("remove", "other/1.0", "-r", REMOTE, "-c")
    server.admin("protection-rule", "remove", "--project", PROJECT, "1")
    assert rules(server) == []
    maintainer.run("remove", "hello/1.0", "-r", REMOTE, "-c")
    assert remote_refs(admin, "*") == {}


def test_bad_rules_on_the_command_line_are_clear_errors_and_store_nothing(server):
    add = ["protection-rule", "add", "--project", PROJECT]
    server.admin(*add, "--pattern", "zlib", "--push-level", "owner")
    before = rules(server)
    cases = [
        (["--pattern", "", "--push-level", "owner"], "empty"),
        (["--pattern", "x" * 256, "--push-level", "owner"], "256 characters, at most 255"),
        (["--pattern", "line\nbreak", "--push-level", "owner"], "control characters"),
        (["--pattern", "boost"], "at least a minimum access role"),
        (["--pattern", "boost", "--push-level", "developer"], "developer"),
        (["--pattern", "boost", "--delete-level", "maintainer"], "maintainer"),
        (["--pattern", "zlib", "--push-level", "admin"], "already exists"),
    ]
    for args, message in cases:
        result = server.admin(*add, *args, check=False)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert "panicked" not in result.stderr
    unknown_project = server.admin("protection-rule", "add", "--project", "no/such", "--pattern", "x",
                                   "--push-level", "owner", check=False)
    assert unknown_project.returncode != 0 and "unknown project" in unknown_project.stderr
    missing = server.admin("protection-rule", "remove", "--project", PROJECT, "999", check=False)
    assert missing.returncode != 0 and "no protection rule with id 999" in missing.stderr
    assert rules(server) == before
