"""The documentation site in a real browser (headless Chromium driven by selenium), opened
from file:// as an administrator opens a build folder: pages load without a console error,
the search box finds a host by a prefix of its name and goes there, a table sorts, and a
hostile bundle's HTML and JavaScript show as text. One site build and one browser per
module (~a few seconds)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon import migrate
from daemon.config import Config, load_config
from daemon.database import Database
from daemon.resolve.load import EstateReader
from tests.conftest import service_missing, write_config
from tests.docs_estates import (
    HOSTILE_APP,
    HOSTILE_HOST,
    IMG,
    QUOTE,
    SCRIPT,
    crawl,
    hostile,
    resolve,
    three_tier_and_dcom,
)

CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 10  # seconds


def _site(folder: Path, fill: Callable[[Config, Database, Path], None]) -> Path:
    from daemon.cli.docs import build_docs

    folder.mkdir(parents=True, exist_ok=True)
    config = load_config(write_config(folder))
    db = Database(config.database.url)
    migrate.upgrade(db.engine)
    try:
        fill(config, db, folder)
        resolve(config, db)
    finally:
        db.dispose()
    reader = EstateReader(config.database.url)
    try:
        built, _pages = build_docs(config, reader, out=folder / "docs")
    finally:
        reader.dispose()
    return built


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("docs")
    return {
        "estate": _site(root / "estate", three_tier_and_dcom),
        "hostile": _site(root / "hostile", hostile),
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMEDRIVER.exists() or shutil.which("chromium") is None:
        service_missing(
            "chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver: Any, page: Path) -> list[dict[str, Any]]:
    """Load a page and wait until site.js has run; the console's errors and warnings."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what an earlier page logged
    driver.get(page.as_uri())
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def test_the_overview_and_a_host_page_load_from_file_without_console_errors(
    browser: Any, sites: dict[str, Path]
) -> None:
    from selenium.webdriver.common.by import By

    site = sites["estate"]
    assert _open(browser, site / "index.html") == []
    assert browser.find_elements(By.CSS_SELECTOR, ".flow svg a")  # the picture links its nodes
    assert _open(browser, site / "hosts" / "uf-web01.html") == []
    assert (
        "org_uf_outputs" in browser.find_element(By.ID, "config").find_element(By.XPATH, "..").text
    )
    for page in (
        "findings.html",
        "hosts.html",
        "apps.html",
        "indexes/web.html",
        "sourcetypes/access_combined.html",
    ):
        assert _open(browser, site / page) == [], page


def test_the_search_box_finds_a_host_by_a_prefix_of_its_name_and_goes_to_it(
    browser: Any, sites: dict[str, Path]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    site = sites["estate"]
    _open(browser, site / "apps.html")
    box = browser.find_element(By.ID, "search")
    box.send_keys("uf-db")
    WebDriverWait(browser, WAIT).until(
        lambda d: "uf-db01" in d.find_element(By.ID, "search-results").text
    )
    box.send_keys(Keys.ENTER)
    WebDriverWait(browser, WAIT).until(lambda d: d.current_url.endswith("/hosts/uf-db01.html"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Host uf-db01"
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_a_sortable_table_sorts_by_the_column_clicked_both_ways(
    browser: Any, sites: dict[str, Path]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _open(browser, sites["estate"] / "hosts.html")
    table = browser.find_element(By.CSS_SELECTOR, "table.sortable")
    header = table.find_elements(By.CSS_SELECTOR, "thead th")[5]  # inputs

    def column() -> list[int]:
        return [
            int(r.find_elements(By.TAG_NAME, "td")[5].text)
            for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")
        ]

    before = column()
    header.click()
    WebDriverWait(browser, WAIT).until(lambda _d: header.get_attribute("aria-sort") == "ascending")
    assert column() == sorted(before)
    header.click()
    WebDriverWait(browser, WAIT).until(lambda _d: header.get_attribute("aria-sort") == "descending")
    assert column() == sorted(before, reverse=True)
    assert len(set(before)) > 1  # the order really changed something


def test_a_link_with_filter_in_its_fragment_opens_the_table_filtered(
    browser: Any, sites: dict[str, Path]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page = sites["estate"] / "findings.html"
    _open(browser, page)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.filterable tbody tr")
    assert len(rows) > 15 and all(r.is_displayed() for r in rows)

    def shown(words: str) -> list[str]:
        box = browser.find_element(By.CSS_SELECTOR, "input.filter")
        WebDriverWait(browser, WAIT).until(lambda _d: box.get_attribute("value") == words)
        found = [r.text for r in rows if r.is_displayed()]
        assert found and len(found) < len(rows)
        return found

    _open(browser, sites["estate"] / "index.html")  # from another page: a new load
    browser.get(page.as_uri() + "#filter=UNDEFINED_INDEX%20idx01")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.filterable tbody tr")
    assert all("UNDEFINED_INDEX" in t and "idx01" in t for t in shown("UNDEFINED_INDEX idx01"))
    browser.get(page.as_uri() + "#filter=uf-web02")  # the same page: only the hash changes
    assert all("uf-web02" in t for t in shown("uf-web02"))


def test_a_crawl_from_the_overview_finds_no_broken_internal_link(sites: dict[str, Path]) -> None:
    for site in sites.values():
        reached, broken = crawl(site / "index.html")
        assert broken == []
        assert len(reached) > 20


def test_html_and_javascript_in_names_and_values_render_as_text(
    browser: Any, sites: dict[str, Path]
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    site = sites["hostile"]
    pages = sorted(p for p in site.rglob("*.html"))
    assert any(SCRIPT in p.name or "~3Cscript" in p.name for p in pages)
    seen_text = ""
    for page in pages:
        logged = _open(browser, page)
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert  # noqa: B018 - raises when no alert is open
        assert logged == [], (page.name, logged)  # a blocked inline script logs an error too
        # No element the bundle's text could have made: only the site's own script runs.
        scripts = [s.get_attribute("src") for s in browser.find_elements(By.TAG_NAME, "script")]
        assert all(s and s.endswith(("static/site.js", "search-index.js")) for s in scripts), (
            scripts
        )
        assert (
            browser.find_elements(
                By.CSS_SELECTOR, "img, main svg:not(.flow svg), iframe, [onerror], [onload]"
            )
            == []
        )
        seen_text += browser.find_element(By.TAG_NAME, "body").text
    for text in (SCRIPT, IMG, QUOTE, HOSTILE_APP, HOSTILE_HOST):
        assert text in seen_text, text
