"""The web interface in a real browser: Debian's chromium, headless, driven by selenium through
Debian's chromium-driver (nothing is downloaded; scripts/test-all installs both). Packages are
uploaded with the real Conan client; screenshots of each page type go to target/web-screenshots/.
"""

import os
import pathlib
import re

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ADMIN_PASSWORD, CONAN2_VERSIONS, ROOT, Conan, write_recipe

SCREENSHOTS = ROOT / "target" / "web-screenshots"
CHROMIUM = os.environ.get("CONAN_REGISTRY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONAN_REGISTRY_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


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


def shoot(browser, name):
    """Screenshots of the current page at desktop and phone widths."""
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


def follow(browser, element, url_part):
    """Clicks `element` and waits until the browser is at a URL containing `url_part`: a click
    may return before the navigation it starts has finished."""
    element.click()
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
