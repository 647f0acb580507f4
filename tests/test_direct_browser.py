"""Direct uploads in headless Chromium through the example project's admin (LargeAttachment).

The browser reaches Django only through a TCP relay that counts the bytes it
forwards to Django, so the test sees what Django received: the 40 MiB file must
go to the bucket, not through Django. The bucket is on its own port (another
origin: the CORS rule initialize_buckets wrote lets the page upload).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from django_minio_backend.testing.relay import ByteRelay
from django_minio_backend.testing.seaweedfs import S3Server, free_port

from .test_browser import Site, browser, log_in, running_example_site, webdriver_cls

pytestmark = pytest.mark.browser
__all__ = ["browser", "webdriver_cls"]  # fixtures shared with test_browser.py

SIZE = 40 * 1024 * 1024
PART = 8 * 1024 * 1024  # MINIO_DIRECT_UPLOAD_PART_SIZE's default: five parts
PRIVATE_BUCKET = "django-backend-dev-private"

LISTEN = """
window.dmbEvents = {progress: [], done: null, error: null, puts: [], partsAnswers: []};
document.addEventListener("dmb:progress", (e) => window.dmbEvents.progress.push(e.detail.loaded));
document.addEventListener("dmb:done", (e) => { window.dmbEvents.done = e.detail; });
document.addEventListener("dmb:error", (e) => { window.dmbEvents.error = e.detail; });
const open = XMLHttpRequest.prototype.open;
XMLHttpRequest.prototype.open = function (method, url) {
  if (method === "PUT") {
    const number = new URL(url).searchParams.get("partNumber");
    this.addEventListener("load", () => {
      window.dmbEvents.puts.push(Number(number));
      if (window.dmbEvents.puts.length === window.dmbDropAfter) {  // the connection drops, right now
        document.querySelector(".dmb-direct-upload").dmbUpload.requests.forEach((x) => x.abort());
      }
    });
  }
  if (String(url).includes("/upload/parts/")) {
    this.addEventListener("load", () => window.dmbEvents.partsAnswers.push(JSON.parse(this.responseText)));
  }
  return open.apply(this, arguments);
};
"""


@pytest.fixture(scope="module")
def relayed_site(
    webdriver_cls: Any, s3_server: S3Server, raw_client: Minio, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Site, ByteRelay]]:
    """The example project behind a counting relay, its origin allowed by the buckets' CORS rule."""
    port = free_port()
    relay = ByteRelay(port)
    origin = f"http://127.0.0.1:{relay.port}"
    try:
        with running_example_site(
            s3_server,
            raw_client,
            tmp_path_factory.mktemp("direct-site"),
            port=port,
            base_url=origin,
            extra_env={"MINIO_CORS_ORIGINS": origin},
        ) as site:
            yield site, relay
    finally:
        relay.close()


def _choose(driver: Any, path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.execute_script(LISTEN)
    driver.find_element(By.ID, "id_file").send_keys(str(path))


def _events(driver: Any) -> dict[str, Any]:
    return dict(driver.execute_script("return window.dmbEvents"))


def _wait_done(driver: Any, timeout: float = 180) -> dict[str, Any]:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return !!(dmbEvents.done || dmbEvents.error)")
    )
    events = _events(driver)
    assert events["error"] is None, events["error"]
    return events


def test_admin_widget_uploads_40_mib_straight_to_the_bucket(
    browser: Any, relayed_site: tuple[Site, ByteRelay], raw_client: Minio, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    site, relay = relayed_site
    data = os.urandom(SIZE)
    path = tmp_path / f"large-{secrets.token_hex(4)}.bin"
    path.write_bytes(data)
    log_in(browser, site)
    browser.get(f"{site.url}/admin/attachments/largeattachment/add/")
    relay.reset()
    _choose(browser, path)
    events = _wait_done(browser)
    name = events["done"]["name"]
    site.buckets.objects.append((PRIVATE_BUCKET, name))
    browser.save_screenshot(str(tmp_path / "uploaded.png"))

    progress = events["progress"]
    assert len(progress) >= 5 and progress[-1] == SIZE, progress[-10:]
    assert sorted(events["puts"]) == [1, 2, 3, 4, 5]
    assert browser.find_element(By.ID, "id_file").get_attribute("value") == ""  # the form carries no file

    browser.find_element(By.ID, "id_title").send_keys("direct upload")
    browser.find_element(By.NAME, "_save").click()
    WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist a"))
    ).click()
    link = WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "a.file-link"))
    )
    assert link.text == name and name.startswith("large/")
    received = relay.sent
    assert received < 256 * 1024, f"Django received {received} bytes for a {SIZE}-byte upload"

    stored = raw_client.get_object(PRIVATE_BUCKET, name)
    try:
        body = stored.read()
    finally:
        stored.close()
        stored.release_conn()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest() and len(body) == SIZE


def test_interrupted_upload_resumes_after_a_reload_sending_only_missing_parts(
    browser: Any, relayed_site: tuple[Site, ByteRelay], raw_client: Minio, tmp_path: Path
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    site, _ = relayed_site
    data = os.urandom(SIZE)
    path = tmp_path / f"resume-{secrets.token_hex(4)}.bin"
    path.write_bytes(data)
    log_in(browser, site)
    page = f"{site.url}/admin/attachments/largeattachment/add/"
    browser.get(page)
    browser.execute_script("window.dmbDropAfter = 1")
    _choose(browser, path)
    # The first part is on the server; the two in flight are cut off, the last two never started.
    WebDriverWait(browser, 120).until(lambda d: d.execute_script("return !!dmbEvents.error"))
    before = _events(browser)["puts"]
    assert len(before) == 1, before
    # What resumes is the ticket the last parts answer renewed (an upload may outlast its ticket).
    kept = browser.execute_script(
        "return Object.keys(localStorage).filter((k) => k.startsWith('dmb-direct:'))"
        ".map((k) => JSON.parse(localStorage.getItem(k)).ticket)"
    )
    assert kept == [_events(browser)["partsAnswers"][-1]["ticket"]]

    browser.get(page)  # reload; the ticket waits in localStorage
    _choose(browser, path)
    events = _wait_done(browser)
    site.buckets.objects.append((PRIVATE_BUCKET, events["done"]["name"]))
    held = events["partsAnswers"][0]["uploaded"]
    # The server holds what the first page finished (an aborted PUT may have landed too, never all five).
    assert set(before) <= set(held) and len(held) < 5, (before, held)
    assert sorted(events["puts"]) == sorted(set(range(1, 6)) - set(held))  # only the rest was sent
    stored = raw_client.get_object(PRIVATE_BUCKET, events["done"]["name"])
    try:
        assert hashlib.sha256(stored.read()).digest() == hashlib.sha256(data).digest()
    finally:
        stored.close()
        stored.release_conn()


RETRY_AT_ONCE = """
window.dmbEvents = {puts: [], errors: [], done: null};
document.addEventListener("dmb:done", (e) => { window.dmbEvents.done = e.detail; });
document.addEventListener("dmb:error", (e) => {
  window.dmbEvents.errors.push(e.detail.message);
  // The user clicks Retry at once, while the failed run's other parts would still be on the wire.
  const retry = document.querySelector(".dmb-direct-retry");
  if (window.dmbEvents.errors.length === 1) setTimeout(() => retry.click(), 0);
});
let dropped = false;
const open = XMLHttpRequest.prototype.open;
XMLHttpRequest.prototype.open = function (method, url) {
  if (method === "PUT") {
    const number = Number(new URL(url).searchParams.get("partNumber"));
    const xhr = this;
    this.addEventListener("load", () => window.dmbEvents.puts.push([number, xhr.status]));
    if (number === 1 && !dropped) {  // part 1's connection drops as soon as it starts sending
      dropped = true;
      this.upload.addEventListener("progress", () => xhr.abort(), {once: true});
    }
  }
  return open.apply(this, arguments);
};
"""


def test_retry_after_a_failed_part_sends_each_part_once_and_finalizes(
    browser: Any, relayed_site: tuple[Site, ByteRelay], raw_client: Minio, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    site, _ = relayed_site
    data = os.urandom(SIZE)
    path = tmp_path / f"retry-{secrets.token_hex(4)}.bin"
    path.write_bytes(data)
    log_in(browser, site)
    browser.get(f"{site.url}/admin/attachments/largeattachment/add/")
    # A slow line: the failed run's other parts are still sending when Retry starts the next run.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 6 * 1024 * 1024},
    )
    try:
        browser.execute_script(RETRY_AT_ONCE)
        browser.find_element(By.ID, "id_file").send_keys(str(path))
        WebDriverWait(browser, 180).until(
            lambda d: d.execute_script("return !!dmbEvents.done || dmbEvents.errors.length >= 2")
        )
    finally:
        browser.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
    events = _events(browser)
    assert events["done"] is not None, events["errors"]
    site.buckets.objects.append((PRIVATE_BUCKET, events["done"]["name"]))
    stored_parts = sorted(number for number, status in events["puts"] if status == 200)
    assert stored_parts == [1, 2, 3, 4, 5], events["puts"]  # the failed run's other parts were stopped
    stored = raw_client.get_object(PRIVATE_BUCKET, events["done"]["name"])
    try:
        assert hashlib.sha256(stored.read()).digest() == hashlib.sha256(data).digest()
    finally:
        stored.close()
        stored.release_conn()


def test_another_file_with_the_same_name_size_and_date_does_not_resume_the_first(
    browser: Any, relayed_site: tuple[Site, ByteRelay], raw_client: Minio, tmp_path: Path
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    site, _ = relayed_site
    # Two files as one archive unpacks them into two folders: same name, size and date.
    name = f"scan-{secrets.token_hex(4)}.raw"
    first, second = tmp_path / "a" / name, tmp_path / "b" / name
    for path in (first, second):
        path.parent.mkdir()
        path.write_bytes(os.urandom(SIZE))
        os.utime(path, (1_700_000_000, 1_700_000_000))
    log_in(browser, site)
    page = f"{site.url}/admin/attachments/largeattachment/add/"
    browser.get(page)
    browser.execute_script("window.dmbDropAfter = 1")
    _choose(browser, first)
    WebDriverWait(browser, 120).until(lambda d: d.execute_script("return !!dmbEvents.error"))
    assert len(_events(browser)["puts"]) == 1

    browser.get(page)
    _choose(browser, second)
    events = _wait_done(browser)
    site.buckets.objects.append((PRIVATE_BUCKET, events["done"]["name"]))
    assert events["partsAnswers"][0]["uploaded"] == []  # a ticket of its own, nothing of the first file
    assert sorted(events["puts"]) == [1, 2, 3, 4, 5]
    stored = raw_client.get_object(PRIVATE_BUCKET, events["done"]["name"])
    try:
        assert hashlib.sha256(stored.read()).digest() == hashlib.sha256(second.read_bytes()).digest()
    finally:
        stored.close()
        stored.release_conn()
