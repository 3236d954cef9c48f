"""The documentation site, opened in a real browser: headless Chromium driven by Selenium.

`python3 -m tox -e docs` builds the site with `mkdocs build --strict` and runs this file with
HATCH_PEX_DOCS_SITE set to the built directory. It crawls the site twice: served over HTTP on loopback,
and opened from disk (file://, as someone reading the built site offline does). From the front page it
follows every internal link and fails on a page that does not load (an HTTP error, a missing file), a
link that leads to a directory (a file:// browser shows a directory listing there, not a page: the site
is built with `use_directory_urls: false`), a link to a fragment that no element of its page has, an
image that did not load (naturalWidth 0), a console error (SEVERE), or a resource loaded from outside the
site (the site must work offline). It saves a screenshot of the front page.

Without HATCH_PEX_DOCS_SITE (the `py` env) the browser test is skipped; the link logic is unit-tested.
The browser is Debian's chromium and its driver (/usr/bin/chromium, /usr/bin/chromedriver; the docs
env's .ci/ensure-chromium installs them): nothing is downloaded.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

SITE_VARIABLE = "HATCH_PEX_DOCS_SITE"
SCREENSHOT_VARIABLE = "HATCH_PEX_DOCS_SCREENSHOT"
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)

# Every image of the page, once it has loaded or failed: the sources of those with no pixels.
BROKEN_IMAGES_SCRIPT = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })))
    .then(() => done(images.filter(i => i.naturalWidth === 0).map(i => i.currentSrc || i.src)));
"""

# Every URL the page loaded (stylesheets, scripts, fonts, images, fetches), as the browser timed them.
RESOURCES_SCRIPT = "return performance.getEntriesByType('resource').map(e => e.name)"


# A directory opened in the browser: Chromium's listing of a file:// directory is titled "Index of <path>".
LISTING_SCRIPT = "return document.title.startsWith('Index of ')"


def page_key(url: str) -> str:
    """The page a URL shows: no fragment or query; over HTTP, `dir/` the same page as `dir/index.html`
    (the server answers one with the other). From disk they differ: `dir/` is a directory listing."""
    parts = urlsplit(urldefrag(url)[0])
    path = parts.path or "/"
    if parts.scheme != "file" and path.endswith("/index.html"):
        path = path[: -len("index.html")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def internal(url: str, root: str) -> bool:
    """Whether the crawl follows the link: a URL under the site's root URL (`http://127.0.0.1:PORT/`,
    or `file:///path/to/site/`), same scheme and host."""
    parts, site = urlsplit(url), urlsplit(root)
    return (parts.scheme, parts.netloc) == (site.scheme, site.netloc) and parts.path.startswith(site.path)


def file_problem(url: str) -> str | None:
    """Why a file:// URL shows no page of the site (a missing file, a directory), or None."""
    path = Path(unquote(urlsplit(url).path))
    if path.is_dir():
        return "a directory: opened from disk it shows a directory listing, not a page"
    if not path.is_file():
        return "no such file"
    return None


@dataclass
class Crawl:
    """What a crawl found: the pages it opened and every problem, each naming the page it was on."""

    pages: list[str] = field(default_factory=list)
    fragments: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # page -> {(fragment, from)}
    problems: list[str] = field(default_factory=list)


def test_page_key() -> None:
    assert page_key("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/"
    assert page_key("http://127.0.0.1:8000/index.html#top") == "http://127.0.0.1:8000/"
    assert page_key("http://127.0.0.1:8000/runtime/index.html") == "http://127.0.0.1:8000/runtime/"
    assert page_key("http://127.0.0.1:8000/runtime/?q=1#the-cache") == "http://127.0.0.1:8000/runtime/"
    assert page_key("http://127.0.0.1:8000/runtime.html#the-cache") == "http://127.0.0.1:8000/runtime.html"
    assert page_key("http://127.0.0.1:8000/benchmarks.png") == "http://127.0.0.1:8000/benchmarks.png"
    assert page_key("file:///site/index.html#top") == "file:///site/index.html"
    assert page_key("file:///site/runtime/") == "file:///site/runtime/"


def test_internal() -> None:
    root = "http://127.0.0.1:8000/"
    assert internal("http://127.0.0.1:8000/cli.html#verify", root)
    assert not internal("http://127.0.0.1:8001/cli.html", root)
    assert not internal("https://hatch.pypa.io/latest/", root)
    assert not internal("mailto:someone@example.org", root)
    site = "file:///tmp/site/"
    assert internal("file:///tmp/site/cli.html#verify", site)
    assert not internal("file:///tmp/other/cli.html", site)
    assert not internal("file:///etc/passwd", site)


def test_file_problem(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<p>page</p>")
    (tmp_path / "runtime").mkdir()
    assert file_problem((tmp_path / "page.html").as_uri()) is None
    assert "directory listing" in (file_problem(tmp_path.as_uri() + "/runtime/") or "")
    assert file_problem((tmp_path / "missing.html").as_uri()) == "no such file"


def test_included_section() -> None:
    """mkdocs_hooks.section: what docs/comparison.md shows of docs/benchmarks.md."""
    sys.path.insert(0, str(ROOT))
    try:
        from mkdocs_hooks import section
    finally:
        sys.path.remove(str(ROOT))
    text = "# Page\n## Small app\nintro\n```\n# a comment, not a heading\n```\n### Warm start\n| a |\n## Large app\nother"
    assert section(text, "Small app") == "intro\n```\n# a comment, not a heading\n```\n### Warm start\n| a |"
    assert section(text, "Large") == "other"
    with pytest.raises(ValueError, match="no heading starting with 'Tiny'"):
        section(text, "Tiny")
    # The page the site includes has the section docs/comparison.md names, with its tables.
    small = section((ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8"), "Small app")
    assert "| hatch-pex" in small and "benchmarks.png" in small
    assert "<!-- include: benchmarks.md#Small app -->" in (ROOT / "docs" / "comparison.md").read_text(
        encoding="utf-8"
    )


@pytest.fixture(scope="module")
def site() -> Path:
    value = os.environ.get(SITE_VARIABLE)
    if not value:
        pytest.skip(f"no built site: `python3 -m tox -e docs` builds one and sets {SITE_VARIABLE}")
    path = Path(value)
    assert (path / "index.html").is_file(), (
        f"{SITE_VARIABLE}={value} holds no index.html: build the site first"
    )
    return path


@pytest.fixture(scope="module")
def origin(site: Path) -> Iterator[str]:
    """The built site served over HTTP on loopback, in a thread: its origin, http://127.0.0.1:PORT."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def list_directory(self, path: Any) -> None:  # a directory without index.html: no page there
            self.send_error(404, "no index.html")

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    for binary in (CHROMIUM, CHROMEDRIVER):
        assert os.access(binary, os.X_OK), (
            f"{binary} is missing: install Debian's chromium and chromium-driver (the docs env runs .ci/ensure-chromium, which does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def status_problem(url: str) -> str | None:
    """Why the server does not serve the URL (an HTTP error, or no answer), or None."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except OSError as error:
        return str(error)
    return None


def crawl(driver: Any, root: str, start: str) -> Crawl:
    """Open the front page (`start`), then every page under `root` it leads to, breadth first."""
    found = Crawl()
    queue, seen = [start], {start}
    referrers: dict[str, str] = {start: "(start)"}
    while queue:
        url = queue.pop(0)
        problem = file_problem(url) if url.startswith("file:") else status_problem(url)
        if problem:
            found.problems.append(f"broken link to {url} ({problem}), on {referrers[url]}")
            continue
        if not urlsplit(url).path.endswith("/") and not url.endswith(".html"):
            continue  # a file (an image, the chart): served, nothing to open in the browser
        driver.get(url)
        found.pages.append(url)
        if driver.execute_script(LISTING_SCRIPT):
            found.problems.append(f"directory listing instead of a page at {url}, on {referrers[url]}")
        for entry in driver.get_log("browser"):
            if entry.get("level") == "SEVERE":
                found.problems.append(f"console error on {url}: {entry.get('message')}")
        for source in driver.execute_async_script(BROKEN_IMAGES_SCRIPT):
            found.problems.append(f"image not loaded on {url}: {source}")
        for resource in driver.execute_script(RESOURCES_SCRIPT):
            if not internal(resource, root):  # fonts, scripts, ... from the internet: not offline
                found.problems.append(f"resource from outside the site on {url}: {resource}")
        links = driver.execute_script("return Array.from(document.querySelectorAll('a[href]'), a => a.href)")
        for link in links:
            if not internal(link, root):
                continue  # external links are not followed: the test must not need the network
            target, fragment = urldefrag(link)
            key = page_key(target)
            if fragment:
                found.fragments.setdefault(key, set()).add((fragment, url))
            if key not in seen:
                seen.add(key)
                referrers[key] = url
                queue.append(key)
    return found


def check_fragments(driver: Any, found: Crawl) -> None:
    """Every `page#fragment` link must name an element of that page (by id, or an anchor's name)."""
    for page, fragments in sorted(found.fragments.items()):
        if page not in found.pages:
            continue  # a broken page is reported already
        driver.get(page)
        ids = set(driver.execute_script("return Array.from(document.querySelectorAll('[id]'), e => e.id)"))
        names = set(
            driver.execute_script("return Array.from(document.querySelectorAll('a[name]'), e => e.name)")
        )
        for fragment, referrer in sorted(fragments):
            target = unquote(fragment)
            if target not in ids and target not in names:
                found.problems.append(f"broken anchor {page}#{fragment}, on {referrer}")


def check_site(driver: Any, site: Path, root: str, start: str) -> Crawl:
    """Crawl the site from `start`; fail on every problem, and on a built page no link leads to."""
    found = crawl(driver, root, start)
    check_fragments(driver, found)

    # Every page mkdocs built is reachable from the front page (through the navigation).
    built = {
        page_key(f"{root}{path.relative_to(site).as_posix()}")
        for path in site.rglob("*.html")
        if path.name != "404.html"
    }
    unreached = sorted(built - {page_key(p) for p in found.pages})
    problems = [*found.problems, *(f"no link leads to {page}" for page in unreached)]
    assert not problems, "\n".join(problems)
    return found


def test_site_in_browser(site: Path, origin: str, browser: Any, tmp_path: Path) -> None:
    found = check_site(browser, site, f"{origin}/", f"{origin}/")

    browser.get(f"{origin}/")
    screenshot = tmp_path / "front.png"
    assert browser.save_screenshot(str(screenshot)), "the browser took no screenshot"
    print(f"front page screenshot: {screenshot} ({len(found.pages)} pages crawled)")
    stable = os.environ.get(SCREENSHOT_VARIABLE)
    if stable:
        shutil.copyfile(screenshot, stable)
        print(f"front page screenshot copied to {stable}")


def test_site_from_disk(site: Path, browser: Any) -> None:
    """The built site opened as files (file://), with no server: every link leads to a page."""
    root = site.resolve().as_uri() + "/"
    found = check_site(browser, site, root, f"{root}index.html")
    print(f"{len(found.pages)} pages crawled from {root}")
