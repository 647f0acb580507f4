"""End to end in headless Chromium: upload through the example project's admin, load the file.

The example project (examples/) runs with `manage.py runserver` against the
session's S3 server; Chromium from Debian (`apt-get install chromium
chromium-driver`) is driven by Selenium with explicit paths, so nothing is
downloaded. Every page the browser loads is on 127.0.0.1.

Without Chromium or Selenium the tests are skipped with a loud reason, unless
DMB_REQUIRE_BROWSER=1, which turns that into a failure (for CI).
Screenshots of each step are kept in the test's tmp_path.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from minio import Minio

from django_minio_backend.testing.seaweedfs import S3Server, free_port

from .test_example_project import EXAMPLES, MANAGE, ExampleBuckets, example_env, manage, wait_for_http

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-default-browser-check",
    "--metrics-recording-only",
    # No host name resolves (127.0.0.1 is used as a literal): a stray request for a host fails.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--window-size=1280,900",
)
WIDTH, HEIGHT = 120, 80

# [requested from arguments[0], a variable base.css defines]
ADMIN_CSS = """
const requested = performance.getEntriesByType("resource").some((e) => e.name.includes(arguments[0]));
return [requested, getComputedStyle(document.documentElement).getPropertyValue("--primary").trim()];
"""
LOADED_IMAGE = """
const img = document.querySelector(arguments[0]);
const done = arguments[arguments.length - 1];
const report = () => done(img ? [img.complete, img.naturalWidth, img.naturalHeight] : null);
if (!img || img.complete) { report(); } else { img.onload = img.onerror = report; }
"""
FETCH_DIGEST = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {cache: "no-store"})
  .then(async (r) => {
    const body = await r.arrayBuffer();
    const digest = await crypto.subtle.digest("SHA-256", body);
    const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    done([r.status, body.byteLength, hex]);
  })
  .catch((e) => done(["error", String(e)]));
"""


def _skip_or_fail(reason: str) -> None:
    message = f"!!! BROWSER TESTS NOT RUN: {reason} !!!"
    if os.environ.get("DMB_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (DMB_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(message)


def _load_run_demo() -> Any:
    spec = importlib.util.spec_from_file_location("run_demo", EXAMPLES / "run_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Site:
    url: str
    username: str
    password: str
    buckets: ExampleBuckets


@pytest.fixture(scope="module")
def webdriver_cls() -> Any:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        _skip_or_fail(
            f"{' and '.join(missing)} not found; install Chromium with "
            "`apt-get update && apt-get install -y chromium chromium-driver`"
        )
    try:
        from selenium import webdriver
    except ImportError:
        _skip_or_fail("the selenium package is missing; `make venv` (requirements-dev.txt) installs it")
    return webdriver


@contextlib.contextmanager
def running_example_site(
    s3_server: S3Server,
    raw_client: Minio,
    tmp: Path,
    *,
    port: int,
    base_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Site]:
    """The example project, migrated, with a superuser, served by runserver on ``port``.

    ``base_url`` is where the browser reaches it (default: that port directly).
    """
    buckets = ExampleBuckets(raw_client)
    username, password = "admin", secrets.token_urlsafe(12)
    env = example_env(s3_server, tmp / "db.sqlite3") | {
        "DJANGO_SUPERUSER_USERNAME": username,
        "DJANGO_SUPERUSER_PASSWORD": password,
        "DJANGO_SUPERUSER_EMAIL": "admin@example.invalid",
        **(extra_env or {}),
    }
    manage(env, "migrate", "--noinput")
    manage(env, "createsuperuser", "--noinput")
    manage(env, "collectstatic", "--noinput")  # the admin's CSS and JS, into the public static bucket
    base_url = base_url or f"http://127.0.0.1:{port}"
    log_path = tmp / "runserver.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(MANAGE), "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=EXAMPLES,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(f"{base_url}/admin/login/", proc, log_path=log_path)
        yield Site(base_url, username, password, buckets)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        buckets.cleanup()


@pytest.fixture(scope="module")
def example_site(
    webdriver_cls: Any, s3_server: S3Server, raw_client: Minio, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """The example project served by runserver on a free port."""
    tmp = tmp_path_factory.mktemp("example-site")
    with running_example_site(s3_server, raw_client, tmp, port=free_port()) as site:
        yield site


@pytest.fixture(scope="module")
def browser(webdriver_cls: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver_cls.ChromeOptions()
    options.binary_location = CHROMIUM  # with the driver path below: no Selenium Manager, no download
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    service = Service(CHROMEDRIVER, log_output=str(tmp_path_factory.mktemp("chromedriver") / "log.txt"))
    driver = webdriver_cls.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{site.url}/admin/login/?next=/admin/")
    if driver.find_elements(By.ID, "id_username"):
        driver.find_element(By.ID, "id_username").send_keys(site.username)
        driver.find_element(By.ID, "id_password").send_keys(site.password)
        driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
        WebDriverWait(driver, 20).until(
            lambda d: d.find_elements(By.ID, "logout-form") or d.find_elements(By.CSS_SELECTOR, ".errornote")
        )
    assert driver.find_elements(By.ID, "logout-form"), f"admin login failed: {driver.current_url}"
    # The page's style sheet came from the static bucket (STORAGES["staticfiles"]).
    requested, primary = driver.execute_script(ADMIN_CSS, "/django-backend-dev-static/admin/css/base.css")
    assert requested and primary, "the admin's base.css did not load from the static bucket"


@pytest.mark.parametrize(("model", "signed"), [("privateattachment", True), ("publicattachment", False)])
def test_upload_in_admin_then_the_browser_loads_the_image(
    browser: Any, example_site: Site, tmp_path: Path, model: str, signed: bool
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    image = _load_run_demo().png_bytes(WIDTH, HEIGHT)
    upload = tmp_path / f"browser-{uuid.uuid4().hex[:8]}.png"
    upload.write_bytes(image)
    wait = WebDriverWait(browser, 20)

    log_in(browser, example_site)
    browser.get(f"{example_site.url}/admin/attachments/{model}/add/")
    browser.find_element(By.ID, "id_title").send_keys(f"browser test {upload.name}")
    browser.find_element(By.ID, "id_file").send_keys(str(upload))
    browser.find_element(By.NAME, "_save").click()
    # The success message links to the new object's change page.
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist a"))).click()
    wait.until(expected_conditions.url_contains("/change/"))
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "img.file-preview")))
    link = browser.find_element(By.CSS_SELECTOR, "a.file-link")
    href = link.get_attribute("href")
    key = link.text
    bucket = urlsplit(href).path.split("/")[1]
    example_site.buckets.objects.append((bucket, key))
    assert key.endswith(upload.name), key
    assert ("X-Amz-Signature=" in href) is signed, href
    # The admin page shows the image straight from the (presigned) URL.
    preview = browser.execute_async_script(LOADED_IMAGE, "img.file-preview")
    assert preview == [True, WIDTH, HEIGHT], f"admin preview did not load: {preview}"
    browser.execute_script("document.querySelector('img.file-preview').scrollIntoView()")
    browser.save_screenshot(str(tmp_path / f"{model}-admin.png"))

    link.click()  # follow it: the browser now shows the object itself
    wait.until(lambda driver: driver.current_url == href)
    wait.until(lambda driver: driver.execute_script("return document.readyState") == "complete")
    loaded = browser.execute_async_script(LOADED_IMAGE, "img")
    browser.save_screenshot(str(tmp_path / f"{model}-image.png"))
    assert loaded == [True, WIDTH, HEIGHT], f"the image at {href} did not load: {loaded}"
    status, length, digest = browser.execute_async_script(FETCH_DIGEST, href)
    assert (status, length, digest) == (200, len(image), hashlib.sha256(image).hexdigest())

    unsigned = href.split("?", 1)[0]
    status = browser.execute_async_script(FETCH_DIGEST, unsigned)[0]
    assert status == (403 if signed else 200), f"GET {unsigned} without a signature -> {status}"
