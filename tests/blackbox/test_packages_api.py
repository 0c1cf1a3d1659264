"""GitLab's Packages API with the real python-gitlab client against the real server: listing
across pages, filters, one package, its files, deleting a file and a package (the real Conan
client then sees them gone), group listing, last_downloaded_at, the permission answers, and
hostile query parameters."""

import time

import gitlab
import pytest
import requests

from conftest import Server, write_recipe
from registry_api import Api, recipe_files

PROJECT = "demo/packages"


def pat(server, user, scope="api"):
    created = server.admin("token", "create", user, "--scope", scope).stdout
    return next(word for word in created.split() if word.startswith("crpat-"))


def user_with_role(server, name, role):
    server.admin("user", "create", name, "--password-stdin", stdin=f"{name}-password-1\n")
    server.admin("member", "add", PROJECT, name, role)
    return pat(server, name)


@pytest.fixture
def catalog_server(tmp_path):
    # Downloads are written every second here, so a test sees last_downloaded_at soon.
    instance = Server(tmp_path / "data", {"CONAN_REGISTRY__CATALOG__DOWNLOAD_FLUSH_SECS": "1"})
    yield instance
    instance.stop()


def seed(server, count):
    """`count` recipes lib00..lib<count-1>, one revision each, through the v2 API."""
    api = Api.login(server)
    for index in range(count):
        api.upload_revision(f"lib{index:02d}", recipe_files(index))
    return api


def test_python_gitlab_lists_inspects_and_deletes(catalog_server, conan, tmp_path):
    server = catalog_server
    seed(server, 24)
    conan.run("remote", "add", "registry", server.project_remote())
    conan.run("remote", "login", "registry", "admin", "-p", "admin-password-1")
    conan.run("create", str(write_recipe(tmp_path / "hello")), "-s", "arch=x86_64")
    conan.run("upload", "hello/1.0", "-r", "registry", "-c")

    gl = gitlab.Gitlab(server.url, private_token=pat(server, "admin"))
    gl.auth()
    assert gl.user.username == "admin"
    assert gl.version()[0] == "17.11.0"
    project = gl.projects.get(PROJECT, lazy=True)

    listed = project.packages.list(get_all=True, per_page=7)
    assert len(listed) == 25
    assert len({package.id for package in listed}) == 25
    assert [package.conan_package_name for package in listed[:24]] == [f"lib{i:02d}" for i in range(24)]
    hello = listed[-1]
    assert hello.name == "hello/1.0@_/_" and hello.version == "1.0" and hello.package_type == "conan"
    assert hello.status == "default" and hello.conan_binaries_count == 1
    assert hello.conan_recipe_revisions_count == 1 and hello.size > 0
    assert hello._links["delete_api_path"].endswith(f"/api/v4/projects/1/packages/{hello.id}")

    assert [p.conan_package_name for p in project.packages.list(package_name="HEL", get_all=True)] == ["hello"]
    # lib01, lib10 to lib19, lib21: every word must occur.
    assert len(project.packages.list(package_name="lib 1", get_all=True)) == 12
    assert project.packages.list(package_version="2.0", get_all=True) == []
    assert project.packages.list(package_type="npm", get_all=True) == []
    by_name = project.packages.list(order_by="name", sort="desc", get_all=True)
    assert [p.conan_package_name for p in by_name][:2] == ["lib23", "lib22"]

    package = project.packages.get(hello.id)
    assert package.conan_recipe_revision and package.versions == []
    files = package.package_files.list(get_all=True, per_page=2)
    names = sorted(f.file_name for f in files)
    assert {"conanfile.py", "conanmanifest.txt", "conaninfo.txt", "conan_package.tgz"} <= set(names)
    package_manifest = next(
        f for f in files if f.file_name == "conanmanifest.txt" and f.conan_package_reference
    )
    assert package_manifest.conan_recipe_revision == package.conan_recipe_revision
    assert len(package_manifest.file_sha256) == 64 and len(package_manifest.file_sha1) == 40

    # Deleting a package's manifest deletes that package revision: the client sees no binary.
    package_manifest.delete()
    binaries = conan.json("list", "hello/1.0:*", "-r", "registry")["registry"]
    assert not any(
        revision.get("packages") for revision in binaries["hello/1.0"]["revisions"].values()
    ), binaries
    assert project.packages.get(hello.id).conan_binaries_count == 0

    # Deleting the package deletes the recipe: gone for the client and the API.
    project.packages.delete(hello.id)
    assert "hello/1.0" not in conan.json("list", "*", "-r", "registry")["registry"]
    with pytest.raises(gitlab.exceptions.GitlabGetError) as missing:
        project.packages.get(hello.id)
    assert missing.value.response_code == 404
    assert len(project.packages.list(get_all=True)) == 24

    group = gl.groups.get("demo", lazy=True)
    in_group = group.packages.list(get_all=True, exclude_subgroups=True, per_page=10)
    assert len(in_group) == 24 and {p.project_path for p in in_group} == {PROJECT}
    with pytest.raises(gitlab.exceptions.GitlabListError) as no_group:
        gl.groups.get("nothing-here", lazy=True).packages.list()
    assert no_group.value.response_code == 404


def test_last_download_is_recorded_without_a_write_per_download(catalog_server):
    server = catalog_server
    api = seed(server, 1)
    gl = gitlab.Gitlab(server.url, private_token=pat(server, "admin"))
    project = gl.projects.get(PROJECT, lazy=True)
    (package,) = project.packages.list()
    assert package.last_downloaded_at is None
    rrev = api.revisions("lib00")[0]
    for _ in range(3):
        assert api.download("lib00", rrev, "conanfile.py").status_code == 200
    deadline = time.time() + 20
    while project.packages.get(package.id).last_downloaded_at is None:
        assert time.time() < deadline, "last_downloaded_at was never written"
        time.sleep(0.5)


def test_protection_of_private_projects_and_roles(catalog_server):
    server = catalog_server
    seed(server, 2)
    developer = gitlab.Gitlab(server.url, private_token=user_with_role(server, "dev", "developer"))
    maintainer = gitlab.Gitlab(server.url, private_token=user_with_role(server, "maint", "maintainer"))
    server.admin("user", "create", "outsider", "--password-stdin", stdin="outsider-password-1\n")
    outsider = gitlab.Gitlab(server.url, private_token=pat(server, "outsider"))
    anonymous = gitlab.Gitlab(server.url)
    reader = gitlab.Gitlab(server.url, private_token=pat(server, "maint", "read-api"))

    first = developer.projects.get(PROJECT, lazy=True).packages.list()[0]
    assert "delete_api_path" not in first._links
    for client in (outsider, anonymous):
        with pytest.raises(gitlab.exceptions.GitlabListError) as hidden:
            client.projects.get(PROJECT, lazy=True).packages.list()
        assert hidden.value.response_code == 404 and "Project Not Found" in str(hidden.value)
    with pytest.raises(gitlab.exceptions.GitlabDeleteError) as refused:
        developer.projects.get(PROJECT, lazy=True).packages.delete(first.id)
    assert refused.value.response_code == 403
    with pytest.raises(gitlab.exceptions.GitlabDeleteError) as scoped:
        reader.projects.get(PROJECT, lazy=True).packages.delete(first.id)
    assert scoped.value.response_code == 403
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        gitlab.Gitlab(server.url, private_token="crpat-" + "0" * 40).projects.get(
            PROJECT, lazy=True
        ).packages.list()
    assert len(maintainer.projects.get(PROJECT, lazy=True).packages.list()) == 2
    maintainer.projects.get(PROJECT, lazy=True).packages.delete(first.id)
    assert len(developer.projects.get(PROJECT, lazy=True).packages.list()) == 1


def test_hostile_query_parameters_are_gitlabs_400s(catalog_server):
    server = catalog_server
    seed(server, 3)
    headers = {"PRIVATE-TOKEN": pat(server, "admin")}
    url = f"{server.url}/api/v4/projects/demo%2Fpackages/packages"

    def get(params, target=url):
        return requests.get(target, params=params, headers=headers, timeout=30)

    for params, body in [
        ({"order_by": "size"}, {"error": "order_by does not have a valid value"}),
        ({"sort": "up"}, {"error": "sort does not have a valid value"}),
        ({"package_type": "cargo"}, {"error": "package_type does not have a valid value"}),
        ({"status": "gone"}, {"error": "status does not have a valid value"}),
        ({"page": "x"}, {"error": "page is invalid"}),
        ({"per_page": "1e9"}, {"error": "per_page is invalid"}),
        ({"page": "99999999999999999999999"}, {"error": "page is invalid"}),
        ({"include_versionless": "maybe"}, {"error": "include_versionless is invalid"}),
    ]:
        response = get(params)
        assert response.status_code == 400, (params, response.text)
        assert response.json() == body
    capped = get({"per_page": "1000"})
    assert capped.status_code == 200 and capped.headers["X-Per-Page"] == "100"
    assert len(capped.json()) == 3
    negative = get({"per_page": "-5", "page": "-2"})
    assert negative.headers["X-Per-Page"] == "1" and negative.headers["X-Page"] == "1"
    past = get({"page": "9", "per_page": "2"})
    assert past.status_code == 200 and past.json() == []
    assert past.headers["X-Total"] == "3" and past.headers["X-Total-Pages"] == "2"
    assert past.headers["X-Next-Page"] == "" and 'rel="last"' in past.headers["Link"]
    for target, status in [
        (f"{url}/0", 404),
        (f"{url}/-1", 404),
        (f"{url}/99999999999999999999", 400),
        (f"{url}/abc", 404),
        (f"{url}/1/package_files/x", 405),
        (f"{server.url}/api/v4/projects/%FF/packages", 404),
        (f"{server.url}/api/v4/projects/999/packages", 404),
    ]:
        response = requests.get(target, headers=headers, timeout=30)
        assert response.status_code == status, (target, response.status_code, response.text)
        assert response.headers["Content-Type"] == "application/json"
    for bad in [{"Authorization": "Basic YWRtaW46eA=="}, {"JOB-TOKEN": "x"}, {"PRIVATE-TOKEN": "crdt-" + "0" * 40}]:
        assert requests.get(url, headers=bad, timeout=30).status_code == 401
    assert requests.get(url, params={"private_token": headers["PRIVATE-TOKEN"]}, timeout=30).status_code == 401
    assert len(get({}).json()) == 3, "nothing changed"


def test_protection_rules_with_python_gitlab_hold_for_conan_and_the_api(catalog_server, conan, tmp_path):
    server = catalog_server
    seed(server, 1)
    owner = gitlab.Gitlab(server.url, private_token=user_with_role(server, "olivia", "owner"))
    maintainer = gitlab.Gitlab(server.url, private_token=user_with_role(server, "max", "maintainer"))
    developer = gitlab.Gitlab(server.url, private_token=user_with_role(server, "devi", "developer"))
    rules = owner.projects.get(PROJECT, lazy=True).package_protection_rules

    with pytest.raises(gitlab.exceptions.GitlabListError) as refused:
        developer.projects.get(PROJECT, lazy=True).package_protection_rules.list()
    assert refused.value.response_code == 403
    rule = rules.create(
        {
            "package_name_pattern": "HELLO*",
            "package_type": "conan",
            "minimum_access_level_for_push": "maintainer",
            "minimum_access_level_for_delete": "owner",
        }
    )
    assert rule.package_name_pattern == "HELLO*" and rule.project_id == 1
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as duplicate:
        rules.create({"package_name_pattern": "HELLO*", "package_type": "conan", "minimum_access_level_for_push": "owner"})
    assert duplicate.value.response_code == 422
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as invalid:
        rules.create({"package_name_pattern": "x", "package_type": "cargo", "minimum_access_level_for_push": "owner"})
    assert invalid.value.response_code == 400
    assert [r.id for r in rules.list()] == [rule.id]

    # A developer's upload of a matching package is refused and leaves nothing behind.
    conan.run("remote", "add", "registry", server.project_remote())
    conan.run("remote", "login", "registry", "devi", "-p", "devi-password-1")
    conan.run("create", str(write_recipe(tmp_path / "hello")), "-s", "arch=x86_64")
    failed = conan.fail("upload", "hello/1.0", "-r", "registry", "-c")
    assert "Package protected" in failed.stdout + failed.stderr
    assert "hello/1.0" not in conan.json("list", "*", "-r", "registry")["registry"]
    conan.run("remote", "login", "registry", "max", "-p", "max-password-1")
    conan.run("upload", "hello/1.0", "-r", "registry", "-c")
    (hello,) = maintainer.projects.get(PROJECT, lazy=True).packages.list(package_name="hello")

    # The delete level is owner: the maintainer's delete is refused, through the API too.
    with pytest.raises(gitlab.exceptions.GitlabDeleteError) as protected:
        maintainer.projects.get(PROJECT, lazy=True).packages.delete(hello.id)
    assert protected.value.response_code == 403 and "deletion protected" in str(protected.value)
    (file,) = [
        f
        for f in maintainer.projects.get(PROJECT, lazy=True).packages.get(hello.id).package_files.list(get_all=True)
        if f.file_name == "conanfile.py"
    ]
    with pytest.raises(gitlab.exceptions.GitlabDeleteError):
        file.delete()
    assert "hello/1.0" in conan.json("list", "*", "-r", "registry")["registry"]

    rule.minimum_access_level_for_delete = None
    rule.save()
    assert rules.list()[0].minimum_access_level_for_delete is None
    maintainer.projects.get(PROJECT, lazy=True).packages.delete(hello.id)
    assert "hello/1.0" not in conan.json("list", "*", "-r", "registry")["registry"]
    rules.delete(rule.id)
    assert rules.list() == []
