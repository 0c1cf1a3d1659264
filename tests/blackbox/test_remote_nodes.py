"""One remote cache served by two registry nodes sharing PostgreSQL and S3 (Garage), as a fleet
runs: the remote project's settings live in the database, so both nodes have it; clients through
both nodes at once of a package neither holds get the upstream's bytes; with the upstream
stopped, what node A cached installs through node B; and both nodes list the same revisions."""

import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, Server
from pgserver import shared_database
from remotes import (KEY, MIRROR, all_at_once, conan_like_download, file_gets, install, make_remote, package_files,
                     package_id, project_id_of, publish)
from s3servers import Garage, blob_env


@pytest.fixture
def fleet(tmp_path, tmp_path_factory):
    """The upstream (a conan-registry of its own) and nodes A and B on one PostgreSQL database
    and one Garage bucket, with the same credentials key."""
    started = []
    with shared_database() as database:
        garage = Garage(tmp_path_factory.mktemp("garage"))
        try:
            env = {"CONAN_REGISTRY__DATABASE__URL": database, "CONAN_REGISTRY__REMOTE__CREDENTIALS_KEY": KEY,
                   **blob_env(garage.s3)}
            for name, extra in (("upstream", None), ("a", env), ("b", env)):
                started.append(Server(tmp_path / name, extra))
            yield started
        finally:
            for server in started:
                server.stop()
            garage.stop()


def revision_lists(url, reference, package):
    """A node's recipe revisions of `reference` and package revisions of its latest recipe
    revision's `package`, as JSON."""
    recipe = f"{url}/v2/conans/{reference}/_/_"
    revisions = requests.get(f"{recipe}/revisions", timeout=60)
    assert revisions.status_code == 200, revisions.text
    latest = revisions.json()["revisions"][0]["revision"]
    packages = requests.get(f"{recipe}/revisions/{latest}/packages/{package}/revisions", timeout=60)
    assert packages.status_code == 200, packages.text
    return revisions.json()["revisions"], packages.json()["revisions"]


def test_two_nodes_serve_one_remote_cache(fleet, conan2_client, tmp_path):
    upstream, node_a, node_b = fleet
    url_a = make_remote(node_a, upstream.project_remote(1))
    url_b = node_b.project_remote(project_id_of(url_a))
    # Set through node A's configuration, shown through node B's: the settings are shared.
    shown = node_b.admin("remote", "show", MIRROR).stdout
    assert "127.0.0.1" in shown and "credentials         set" in shown, shown

    publisher = conan2_client()
    publish(publisher, tmp_path, upstream)
    publish(publisher, tmp_path, upstream, name="other", source="int other = 7;\n")
    expected = {reference: package_files(publisher, reference) for reference in ("hello/1.0", "other/1.0")}
    pid = package_id(publisher, "hello/1.0")

    # Through both nodes at once, hello/1.0 uncached: two real clients and eight plain ones.
    conans = [conan2_client() for _ in range(2)]
    results = all_at_once([lambda conan=conan, url=url: install(conan, url)
                           for conan, url in zip(conans, (url_a, url_b))]
                          + [lambda url=url: conan_like_download(url, pid) for url in (url_a, url_b) * 4])
    assert all(result == expected["hello/1.0"] for result in results[:2])
    # Each node fetches a revision at most once (the nodes do not coordinate their fetches).
    counts = file_gets(upstream)
    assert counts and all(count <= 2 for count in counts.values()), counts
    # The plain clients got the upstream's bytes (read from it only now, after the count).
    upstream_files = conan_like_download(upstream.project_remote(1), pid, auth=("admin", ADMIN_PASSWORD))
    assert all(result == upstream_files for result in results[2:])

    # other/1.0 cached through node A only; then the upstream goes away.
    assert install(conan2_client(), url_a, "other/1.0") == expected["other/1.0"]
    lists_before = {reference: revision_lists(url_a, reference, package_id(publisher, reference))
                    for reference in expected}
    upstream.stop()
    for reference, files in expected.items():
        assert install(conan2_client(), url_b, reference) == files, reference
        # Node A answers from its list cache, node B (which never listed other/1.0) from the
        # revisions the project holds, committed at the upstream's times: the same lists.
        lists = [revision_lists(url, reference, package_id(publisher, reference))
                 for url in (url_a, url_b)]
        assert lists[0] == lists[1] == lists_before[reference], (reference, lists)


def test_held_revisions_keep_the_upstream_time(fleet, conan2_client, tmp_path):
    upstream, node_a, node_b = fleet
    url_a = make_remote(node_a, upstream.project_remote(1))
    url_b = node_b.project_remote(project_id_of(url_a))
    publisher = conan2_client()
    publish(publisher, tmp_path, upstream)
    pid = package_id(publisher, "hello/1.0")
    # Let the registry's clock move on from the upstream's revision time.
    time.sleep(1.5)
    install(conan2_client(), url_a)
    from_upstream = revision_lists(url_a, "hello/1.0", pid)
    upstream.stop()
    # Node B never listed hello/1.0: it answers from the revisions the project holds.
    assert revision_lists(url_b, "hello/1.0", pid) == from_upstream
