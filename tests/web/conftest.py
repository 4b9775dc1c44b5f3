"""Browser-test fixtures: the built portal, a live `shequ serve` on a demo database, Chromium.

The tests drive Debian's Chromium through Python Playwright. They skip (or fail when
SHEQU_REQUIRE_SERVICES=1) when the portal is not built (`npm run build --prefix web`) or when
Chromium or Playwright is missing.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import REPO, require_service

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

DIST = REPO / "web" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
DOCS_IMAGES = REPO / "docs" / "images"
DEMO_PASSWORD = "Shequ@Demo2026"
SECRET_KEY = "web-tests-only-secret-key-0123456789abcdef"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 60.0
SHEQU = [sys.executable, "-c", "from shequ.cli.main import main; main()"]


@dataclass(frozen=True)
class LiveServer:
    """A running `shequ serve` with the demo community loaded."""

    base_url: str
    database_url: str

    def api(self, method: str, path: str, token: str | None = None,
            body: dict[str, Any] | None = None, language: str = "zh-CN") -> Any:
        """Call the API directly (outside the browser); returns the decoded JSON or None."""
        headers = {"Accept-Language": language}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(f"{self.base_url}/api/v1{path}", data=data,
                                         headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/api/v1/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def portal_prerequisites() -> None:
    """Skip (or fail in CI) unless the portal is built and Chromium and Playwright exist."""
    if not (DIST / "index.html").is_file():
        require_service("web portal", f"{DIST / 'index.html'} missing: run "
                        "`npm ci --prefix web && npm run build --prefix web`")
    if not CHROMIUM.is_file():
        require_service("chromium", f"{CHROMIUM} missing: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require_service("playwright", "the Python package playwright is not installed")


@pytest.fixture(scope="module")
def live_server(portal_prerequisites: None,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A fresh SQLite database with the demo loaded, served by uvicorn for this module."""
    workdir = tmp_path_factory.mktemp("web-server")
    database_url = f"sqlite:///{workdir / 'portal.db'}"
    env = {
        **os.environ,
        "SHEQU_DATABASE_URL": database_url,
        "SHEQU_ENVIRONMENT": "test",
        "SHEQU_CONFIG": str(workdir / "absent.toml"),
        "SHEQU_WEB_DIR": str(DIST),
        "SHEQU_SECRET_KEY": SECRET_KEY,
        "SHEQU_ARGON2_TIME_COST": "1",
        "SHEQU_ARGON2_MEMORY_KIB": "8192",
        "SHEQU_LOGIN_RATE_PER_MINUTE": "10000",
        "SHEQU_LOG_LEVEL": "WARNING",
    }
    subprocess.run([*SHEQU, "demo", "--no-serve"], env=env, cwd=workdir, check=True,
                   capture_output=True, timeout=300)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen([*SHEQU, "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _healthy(base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                output = (workdir / "server.log").read_text(errors="replace")[-4000:]
                pytest.fail(f"shequ serve did not become healthy:\n{output}")
            time.sleep(0.2)
        yield LiveServer(base_url, database_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(live_server: LiveServer) -> Iterator[Browser]:
    """Headless Debian Chromium (no downloads, no network beyond the test server)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


# Chromium reports every HTTP error response of fetch() as a console error; a test that
# provokes one on purpose names its status in `allow`.
_HTTP_STATUS = re.compile(r"status of (\d{3})")


@dataclass
class Portal:
    """A browser page on the portal, with the console errors and failed requests it saw."""

    page: Page
    server: LiveServer
    errors: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        """An absolute URL on the test server."""
        return f"{self.server.base_url}{path}"

    def goto(self, path: str) -> None:
        """Open a portal path."""
        self.page.goto(self.url(path))

    def login(self, username: str, password: str = DEMO_PASSWORD) -> None:
        """Log in through the form (the page must show the log-in form)."""
        self.page.get_by_test_id("login-username").fill(username)
        self.page.get_by_test_id("login-password").fill(password)
        self.page.get_by_test_id("login-submit").click()

    def open_and_login(self, username: str, path: str = "/") -> None:
        """Open a path, log in on the form it redirects to, and wait to be back on the path."""
        self.goto(path)
        self.page.wait_for_url(re.compile(r"/login"))
        self.login(username)
        self.page.wait_for_url(re.compile(re.escape(path) + r"$"))
        self.page.get_by_test_id("side-menu").wait_for()

    def local(self, key: str) -> Any:
        """A JSON value from the page's localStorage."""
        raw = self.page.evaluate("key => window.localStorage.getItem(key)", key)
        return json.loads(raw) if raw else None

    def set_local(self, key: str, value: Any) -> None:
        """Store a JSON value in the page's localStorage."""
        self.page.evaluate("([key, value]) => window.localStorage.setItem(key, value)",
                          [key, json.dumps(value)])

    def screenshot(self, name: str, *, docs: bool = False) -> Path:
        """A full-page screenshot under test-artifacts/ (and docs/images/ when asked and
        SHEQU_UPDATE_SCREENSHOTS=1)."""
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.wait_for_load_state("networkidle")
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        if docs and os.environ.get("SHEQU_UPDATE_SCREENSHOTS") == "1":
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(DOCS_IMAGES / "portal.png"), full_page=True,
                                 animations="disabled")
        return path

    def unexpected_errors(self, allow: tuple[int, ...] = ()) -> list[str]:
        """Errors other than HTTP error responses with an allowed status."""
        found = []
        for error in self.errors:
            status = _HTTP_STATUS.search(error)
            if status and int(status.group(1)) in allow:
                continue
            found.append(error)
        return found


@pytest.fixture
def portal(browser: Browser, live_server: LiveServer) -> Iterator[Portal]:
    """A fresh browser context (own storage, zh-CN) on the portal."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                  accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    portal = Portal(page, live_server)

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            portal.errors.append(f"console: {message.text}")

    def on_failed(request: Request) -> None:
        failure = request.failure or ""
        if "ERR_ABORTED" not in failure:  # downloads and superseded requests end as aborted
            portal.errors.append(f"request failed: {request.method} {request.url} {failure}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: portal.errors.append(f"page error: {error}"))
    page.on("requestfailed", on_failed)
    try:
        yield portal
    finally:
        context.close()
