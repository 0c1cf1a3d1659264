"""The web interface in a real browser: Debian's chromium, headless, driven by selenium through
Debian's chromium-driver (nothing is downloaded; scripts/test-all installs both). Packages are
uploaded with the real Conan client; screenshots of each page type go to target/web-screenshots/.
"""

import hashlib
import json
import os
import pathlib
import re

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ADMIN_PASSWORD, CONAN2_VERSIONS, ROOT, Conan, write_recipe
from pgserver import shared_database

SCREENSHOTS = ROOT / "target" / "web-screenshots"
CHROMIUM = os.environ.get("CONAN_REGISTRY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONAN_REGISTRY_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
# axe-core from npm (scripts/test-venvs installs it): the accessibility rules run on every page.
AXE = ROOT / "target" / "test-venv" / "axe-core" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def browser(tmp_path):
    # Selenium Manager must never fetch a browser or driver: both are given, and it is offline.
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def assert_accessible(browser, name):
    """axe-core's rules (WCAG 2 A and AA, and its best practices) on the current page, in the
    light and the dark colour scheme, injected through WebDriver (the page's own policy allows
    no script): no serious or critical violation."""
    try:
        for scheme in ("dark", "light"):
            browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {
                "features": [{"name": "prefers-color-scheme", "value": scheme}]})
            assert_accessible_now(browser, f"{name} ({scheme})")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def assert_accessible_now(browser, name):
    """One axe-core run on the page as it is displayed now."""
    browser.execute_script(AXE.read_text())
    result = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document)
            .then(result => done({passes: result.passes.length, violations: result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))}))
            .catch(error => done({passes: 0, violations: [
                {id: 'axe-error', impact: 'critical', help: String(error), nodes: []}]}));
    """)
    # A run that checked nothing (axe missing or blocked) must not pass.
    assert result["passes"] > 10, f"{name}: axe checked only {result['passes']} rules"
    serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, f"{name}: {serious}"


def shoot(browser, name):
    """The accessibility check, then screenshots of the current page at desktop and phone
    widths."""
    assert_accessible(browser, name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height, suffix in ((1280, 900, "desktop"), (360, 780, "360px")):
        browser.set_window_size(width, height)
        browser.save_screenshot(str(SCREENSHOTS / f"{name}-{suffix}.png"))
        if width == 360:
            # Usable at 360 px: the page itself never scrolls sideways (wide tables scroll in
            # their own box).
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} overflows a 360 px screen by {overflow} px"
    browser.set_window_size(1280, 900)


def assert_clean(browser, status=200):
    """The stylesheet applied under the Content-Security-Policy, and the browser reported no
    policy violation or other error (but the page's own status, when it is an error page)."""
    style = browser.execute_script(
        "return getComputedStyle(document.querySelector('header.site')).borderBottomStyle")
    assert style == "solid", "the stylesheet did not apply"
    expected = f"the server responded with a status of {status}"
    problems = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")
                and not (status != 200 and expected in entry["message"])]
    assert not problems, problems


def is_stale(element):
    """Whether `element` is gone with its page. Besides selenium's stale-element error, chromium
    may answer an element of a page being replaced with an inspector error ("Node with given id
    does not belong to the document"), which selenium's `staleness_of` does not take as gone."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise
    return False


def follow(browser, element, url_part):
    """Clicks `element` and waits until the page it was on is gone and the browser is at a URL
    containing `url_part`: a click may return before the navigation it starts has finished, and
    the page it leaves may already match `url_part` (a dry run's page is under the policy's)."""
    element.click()
    WebDriverWait(browser, 20).until(lambda _driver: is_stale(element))
    WebDriverWait(browser, 20).until(
        lambda driver: url_part in driver.current_url and driver.execute_script(
            "return document.readyState") == "complete")


def project_id(server, path):
    listing = server.admin("project", "list").stdout
    match = re.search(rf"^\s*(\d+)\s+{re.escape(path)}\s", listing, re.MULTILINE)
    assert match, listing
    return int(match.group(1))


def upload(server, conan, project, tmp_path, name, archs):
    remote = f"r{project}"
    conan.run("remote", "add", remote, server.project_remote(project))
    conan.run("remote", "login", remote, "admin", "-p", ADMIN_PASSWORD)
    recipe = write_recipe(tmp_path / name, name=name,
                          extra='description = "<script>alert(1)</script> \\"onmouseover=alert(2)"')
    for arch in archs:
        conan.run("create", str(recipe), "-s", f"arch={arch}")
    conan.run("upload", f"{name}/1.0", "-r", remote, "-c")


def test_anonymous_visitor_browses_a_public_project(server, browser, tmp_path_factory, tmp_path):
    server.admin("project", "create", "team/libs", "--visibility", "public")
    public = project_id(server, "team/libs")
    conan = Conan(CONAN2_VERSIONS[0], tmp_path_factory.mktemp("conan-home"))
    upload(server, conan, public, tmp_path, "hello", ["x86_64", "armv8"])

    browser.get(server.url + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Conan packages"
    assert_clean(browser)
    shoot(browser, "home")
    follow(browser, browser.find_element(By.LINK_TEXT, "team/libs"), "/-/web/projects/team/libs")
    assert browser.find_element(By.TAG_NAME, "h1").text == "team/libs"
    commands = browser.find_element(By.ID, "remote-heading").find_element(By.XPATH, "..").text
    assert f"conan remote add team-libs {server.url}/api/v4/projects/{public}/packages/conan" in commands
    assert_clean(browser)
    shoot(browser, "project")

    follow(browser, browser.find_element(By.LINK_TEXT, "hello"), "/recipes/hello/")
    assert browser.current_url.endswith("/-/web/projects/team/libs/-/recipes/hello/1.0/_/_")
    assert browser.find_element(By.TAG_NAME, "h1").text == "hello/1.0"
    about = browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    # The recipe's markup is shown as text, and no script ran.
    assert '<script>alert(1)</script> "onmouseover=alert(2)' in about
    assert browser.execute_script("return document.querySelectorAll('script').length") == 0
    assert "conan install --requires=hello/1.0 -r team-libs" in browser.page_source
    assert_clean(browser)
    shoot(browser, "recipe")

    follow(browser, browser.find_element(By.CSS_SELECTOR, "a[href*='/revisions/'] code"), "/revisions/")
    table = browser.find_element(By.CSS_SELECTOR, "#binaries-heading ~ div.table-wrap").text
    assert "arch=x86_64" in table and "arch=armv8" in table
    assert_clean(browser)
    shoot(browser, "binaries")
    Select(browser.find_element(By.NAME, "settings.arch")).select_by_visible_text("armv8")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.filter button"), "settings.arch=armv8")
    rows = browser.find_elements(By.CSS_SELECTOR, "#binaries-heading ~ div.table-wrap tbody tr")
    assert len(rows) == 1 and "arch=armv8" in rows[0].text

    follow(browser, rows[0].find_element(By.TAG_NAME, "a"), "/packages/")
    assert "binary" in browser.find_element(By.TAG_NAME, "h1").text
    files = browser.find_element(By.CSS_SELECTOR, "#files-heading ~ div.table-wrap").text
    assert "conan_package.tgz" in files and "conaninfo.txt" in files
    assert re.search(r"\b[0-9a-f]{64}\b", files), files
    link = browser.find_element(By.PARTIAL_LINK_TEXT, "conaninfo.txt").get_attribute("href")
    assert "/api/v4/projects/" in link and link.endswith("/files/conaninfo.txt")
    assert_clean(browser)
    shoot(browser, "package-revision")
    # The link is the Conan API's own download, which an anonymous visitor may use here.
    browser.get(link)
    assert "arch=armv8" in browser.find_element(By.TAG_NAME, "body").text


def test_a_private_project_is_a_404_page_like_a_missing_one(server, browser, tmp_path_factory, tmp_path):
    private = project_id(server, "demo/packages")  # created private by the first start
    conan = Conan(CONAN2_VERSIONS[0], tmp_path_factory.mktemp("conan-home"))
    upload(server, conan, private, tmp_path, "secret", ["x86_64"])

    pages = {}
    for path in ("/-/web/projects/demo/packages",
                 "/-/web/projects/demo/packages/-/recipes/secret/1.0/_/_",
                 "/-/web/projects/no/such-project",
                 "/-/web/projects/no/such-project/-/recipes/secret/1.0/_/_"):
        browser.get(server.url + path)
        pages[path] = browser.find_element(By.TAG_NAME, "main").text
        assert browser.find_element(By.TAG_NAME, "h1").text == "Page not found"
        assert_clean(browser, status=404)
    assert len(set(pages.values())) == 1, pages
    shoot(browser, "not-found")
    browser.get(server.url + "/")
    assert "secret" not in browser.page_source and "demo/packages" not in browser.page_source
    browser.get(server.url + "/-/web/search?q=secret")
    assert "No package matches." in browser.find_element(By.TAG_NAME, "main").text


def sign_in(browser, server, username, password):
    browser.get(server.url + "/-/web/sign-in")
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "main form button").click()
    # Signed in once the header names the user.
    WebDriverWait(browser, 20).until(lambda driver: any(
        link.text == username for link in driver.find_elements(By.CSS_SELECTOR, ".account a")))


@pytest.fixture(params=["sqlite", "postgres"])
def any_backend(request, make_server):
    """The server on its embedded SQLite, and on PostgreSQL."""
    if request.param == "sqlite":
        yield make_server()
        return
    with shared_database() as url:
        server = make_server({"CONAN_REGISTRY__DATABASE__URL": url})
        yield server
        server.stop()


def test_a_user_signs_in_makes_a_token_and_uploads_with_the_real_client(
        any_backend, browser, tmp_path_factory, tmp_path):
    """Sign in; the private project appears; create a personal access token in the page and
    upload with it from the real Conan client; the upload shows in the pages; sign out. On
    SQLite and on PostgreSQL."""
    server = any_backend
    server.admin("user", "create", "maria", "--password-stdin", stdin="maria-password-1\n")
    server.admin("member", "add", "demo/packages", "maria", "developer")
    private = project_id(server, "demo/packages")

    browser.get(server.url + "/-/web/sign-in")
    assert_clean(browser)
    shoot(browser, "sign-in")
    # A wrong password is the form again with a message, and no session.
    browser.find_element(By.ID, "username").send_keys("maria")
    browser.find_element(By.ID, "password").send_keys("not her password")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "main form button"), "/-/web/sign-in")
    assert "Wrong user name, password or token." in browser.find_element(By.CSS_SELECTOR, "p.error").text
    assert_clean(browser, status=401)
    assert browser.get_cookie("conan_registry_session") is None

    sign_in(browser, server, "maria", "maria-password-1")
    session = browser.get_cookie("conan_registry_session")
    assert session and session["httpOnly"] and session["sameSite"] == "Lax"
    assert browser.find_element(By.CSS_SELECTOR, ".account a").text == "maria"
    assert "demo/packages" in browser.find_element(By.TAG_NAME, "main").text

    follow(browser, browser.find_element(By.CSS_SELECTOR, ".account a"), "/-/web/user/tokens")
    assert "You have no tokens yet." in browser.page_source
    assert_clean(browser)
    browser.find_element(By.ID, "token-name").send_keys("laptop")
    browser.find_element(By.ID, "scope-write_package_registry").click()
    Select(browser.find_element(By.ID, "token-expiry")).select_by_visible_text("in 7 days")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "main form.stacked button"), "/-/web/user/tokens")
    secret = browser.find_element(By.ID, "new-token").text
    assert secret.startswith("crpat-"), secret
    assert secret not in browser.current_url
    assert_clean(browser)

    # The real client uploads with the token as its password.
    conan = Conan(CONAN2_VERSIONS[0], tmp_path_factory.mktemp("conan-home"))
    conan.run("remote", "add", "private", server.project_remote(private))
    conan.run("remote", "login", "private", "maria", "-p", secret)
    recipe = write_recipe(tmp_path / "tokenlib", name="tokenlib")
    conan.run("create", str(recipe), "-s", "os=Linux")
    conan.run("upload", "tokenlib/1.0", "-r", "private", "-c")

    browser.get(server.url + "/-/web/projects/demo/packages")
    follow(browser, browser.find_element(By.LINK_TEXT, "tokenlib"), "/recipes/tokenlib/")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a[href*='/revisions/'] code"), "/revisions/")
    table = browser.find_element(By.CSS_SELECTOR, "#binaries-heading ~ div.table-wrap").text
    assert "os=Linux" in table and "arch=x86_64" in table, table
    assert_clean(browser)

    # The list shows the token (never its secret), used; revoking it stops the client.
    browser.get(server.url + "/-/web/user/tokens")
    listed = browser.find_element(By.TAG_NAME, "main").text
    assert "laptop" in listed and "write_package_registry" in listed and secret not in browser.page_source
    shoot(browser, "tokens")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "button.danger"), "/-/web/user/tokens")
    assert "revoked" in browser.find_element(By.TAG_NAME, "main").text
    failed = conan.run("upload", "tokenlib/1.0", "-r", "private", "-c", "--force", check=False)
    assert failed.returncode != 0

    # No secret in any log line: neither the token nor the session cookie (the access log has
    # every request, so the sign-in and token pages were logged).
    log = server.log()
    assert "/-/web/user/tokens" in log and "/-/web/sign-in" in log, log[-2000:]
    assert secret not in log and session["value"] not in log
    assert browser.get_cookie("conan_registry_session")["value"] not in log

    # Signing out: the private project is a 404 page again.
    follow(browser, browser.find_element(By.CSS_SELECTOR, ".account button"), server.url + "/")
    assert browser.get_cookie("conan_registry_session") is None
    browser.get(server.url + "/-/web/projects/demo/packages")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Page not found"


def test_a_forged_cross_site_form_changes_nothing(server, browser, tmp_path):
    """The CSRF probe: a page on another origin posts a token-creation form to the registry
    while the user is signed in; the registry refuses it and creates nothing."""
    server.admin("user", "create", "victim", "--password-stdin", stdin="victim-password-1\n")
    sign_in(browser, server, "victim", "victim-password-1")
    attacker = tmp_path / "attack.html"
    attacker.write_text(
        f'<form id="f" method="post" action="{server.url}/-/web/user/tokens">'
        '<input name="name" value="stolen"><input name="scopes" value="api">'
        '<input name="expires_in_days" value="never"></form>'
        "<script>document.getElementById('f').submit()</script>")
    browser.get(attacker.as_uri())
    WebDriverWait(browser, 20).until(lambda driver: "/-/web/user/tokens" in driver.current_url)
    browser.get(server.url + "/-/web/user/tokens")
    assert "You have no tokens yet." in browser.page_source
    assert "stolen" not in browser.page_source
    listing = server.admin("token", "list", "victim", check=False)
    assert "stolen" not in listing.stdout


def remote_recipes(conan, remote, pattern):
    """What `conan list <pattern> -r <remote>` finds, as JSON: reference -> revisions."""
    result = conan.run("list", pattern, "-r", remote, "--format=json", check=False)
    found = json.loads(result.stdout or "{}").get(remote, {})
    return {} if "error" in found else found


def test_a_developer_cannot_delete_and_a_maintainer_can(server, browser, tmp_path_factory, tmp_path):
    """Deletes from the pages follow the API's permission model; after a maintainer confirms,
    the real client no longer finds the package."""
    private = project_id(server, "demo/packages")
    for user, role in (("devon", "developer"), ("mara", "maintainer")):
        server.admin("user", "create", user, "--password-stdin", stdin=f"{user}-password-1\n")
        server.admin("member", "add", "demo/packages", user, role)
    conan = Conan(CONAN2_VERSIONS[0], tmp_path_factory.mktemp("conan-home"))
    upload(server, conan, private, tmp_path, "doomed", ["x86_64"])
    remote = f"r{private}"
    assert "doomed/1.0" in remote_recipes(conan, remote, "doomed/1.0")
    recipe_page = server.url + "/-/web/projects/demo/packages/-/recipes/doomed/1.0/_/_"

    sign_in(browser, server, "devon", "devon-password-1")
    browser.get(recipe_page)
    assert browser.find_element(By.TAG_NAME, "h1").text == "doomed/1.0"
    assert not browser.find_elements(By.CSS_SELECTOR, "a.danger")
    browser.get(recipe_page + "/delete")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not allowed"
    assert "maintainer or owner" in browser.find_element(By.TAG_NAME, "main").text
    assert_clean(browser, status=403)
    browser.get(server.url + "/")
    follow(browser, browser.find_element(By.CSS_SELECTOR, ".account button"), server.url + "/")

    sign_in(browser, server, "mara", "mara-password-1")
    browser.get(recipe_page)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a.danger"), "/delete")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Delete?"
    assert "doomed/1.0" in browser.find_element(By.TAG_NAME, "main").text
    assert_clean(browser)
    shoot(browser, "delete-confirm")
    # Cancel changes nothing.
    follow(browser, browser.find_element(By.LINK_TEXT, "Cancel"), "/recipes/doomed/1.0/_/_")
    assert "doomed/1.0" in remote_recipes(conan, remote, "doomed/1.0")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a.danger"), "/delete")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "main button.danger"), "/-/web/projects/demo/packages")
    assert browser.current_url == server.url + "/-/web/projects/demo/packages"
    assert "doomed" not in browser.find_element(By.TAG_NAME, "main").text

    assert remote_recipes(conan, remote, "doomed/1.0") == {}
    browser.get(recipe_page)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Page not found"


def test_management_pages_work_and_pass_the_accessibility_check(server, browser, tmp_path_factory, tmp_path):
    """The administrator's pages, a project's settings, its cleanup policy with a dry run, its
    storage and the search page: each used once in the browser, checked by axe-core, and
    screenshotted."""
    private = project_id(server, "demo/packages")
    conan = Conan(CONAN2_VERSIONS[0], tmp_path_factory.mktemp("conan-home"))
    upload(server, conan, private, tmp_path, "managed", ["x86_64"])
    sign_in(browser, server, "admin", ADMIN_PASSWORD)
    assert browser.find_element(By.LINK_TEXT, "Admin")

    follow(browser, browser.find_element(By.LINK_TEXT, "Admin"), "/-/web/admin/users")
    browser.find_element(By.ID, "new-username").send_keys("carla")
    browser.find_element(By.ID, "new-password").send_keys("carla-password-1")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "main form.stacked button"), "/-/web/admin/users")
    assert "carla" in browser.find_element(By.TAG_NAME, "main").text
    assert_clean(browser)
    shoot(browser, "admin-users")
    follow(browser, browser.find_element(By.LINK_TEXT, "Projects"), "/-/web/admin/projects")
    browser.find_element(By.ID, "new-path").send_keys("team/tools")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "main form.stacked button"), "/-/web/projects/team/tools")
    browser.get(server.url + "/-/web/admin/projects")
    assert "team/tools" in browser.find_element(By.TAG_NAME, "main").text
    shoot(browser, "admin-projects")

    browser.get(server.url + "/-/web/projects/demo/packages")
    follow(browser, browser.find_element(By.LINK_TEXT, "Settings"), "/-/settings")
    browser.find_element(By.ID, "member-username").send_keys("carla")
    Select(browser.find_element(By.ID, "member-role")).select_by_visible_text("maintainer")
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Add member']"), "/-/settings")
    assert "carla" in browser.find_element(By.CSS_SELECTOR, "#members-heading ~ div.table-wrap").text
    assert_clean(browser)
    shoot(browser, "settings")

    follow(browser, browser.find_element(By.LINK_TEXT, "Cleanup policy"), "/-/settings/cleanup")
    browser.find_element(By.ID, "keep-recipe").send_keys("1")
    follow(browser, browser.find_element(By.XPATH, "//button[contains(text(), 'Dry run')]"), "/dry-run")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Dry run"
    assert "Recipes examined" in browser.find_element(By.ID, "dry-run-totals").text
    assert_clean(browser)
    shoot(browser, "cleanup-dry-run")
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Save policy']"), "/-/settings/cleanup")
    assert browser.find_element(By.ID, "keep-recipe").get_attribute("value") == "1"
    shoot(browser, "cleanup")

    browser.get(server.url + "/-/web/projects/demo/packages")
    follow(browser, browser.find_element(By.LINK_TEXT, "Storage"), "/-/storage")
    assert "Recipe revisions" in browser.find_element(By.ID, "storage").text
    assert_clean(browser)
    shoot(browser, "storage")

    # A source backup, stored as Conan's `upload_url` stores one, listed on its page.
    content = b"the sources a recipe downloaded"
    sha256 = hashlib.sha256(content).hexdigest()
    token = next(word for word in server.admin("token", "create", "admin", "--scope", "api").stdout.split()
                 if word.startswith("crpat-"))
    backups = f"{server.project_remote(private)}/backups/{sha256}"
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.put(backups + ".json", data=b'{"references": {"managed/1.0": []}}', headers=bearer, timeout=30).ok
    assert requests.put(backups, data=content, headers=bearer, timeout=30).ok
    browser.get(server.url + "/-/web/projects/demo/packages")
    follow(browser, browser.find_element(By.LINK_TEXT, "Source backups"), "/-/backups")
    listed = browser.find_element(By.ID, "backups").text
    assert sha256 in listed and "managed/1.0" in listed, listed
    assert_clean(browser)
    shoot(browser, "backups")

    browser.get(server.url + "/-/web/search?q=managed")
    assert "managed" in browser.find_element(By.TAG_NAME, "main").text
    assert_clean(browser)
    shoot(browser, "search")
