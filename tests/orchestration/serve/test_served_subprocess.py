"""The service as a user starts it: Ray's own `serve run configs/serve.yaml` in a subprocess (on a free port), used
over HTTP and through the web page in headless Chromium, then stopped with Ctrl-C.

Chromium and chromedriver come from Debian (`scripts/install_browser.sh`, run by `make test`); without them, or
without selenium, the browser test skips and says why. Set EDITRL_SCREENSHOT_DIR to keep its screenshot.
`editrl serve` runs the same builder on the same file (tests/orchestration/serve/test_cli.py).
"""

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from envs.canvas.generator import generate_task

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


class Server:
    """A server process in its own session, stopped with Ctrl-C (SIGINT) as a user would, killed if stuck."""

    def __init__(self, argv: list[str], port: int, log: Path):
        env = {k: v for k, v in os.environ.items() if k not in ("EDITRL_SERVE_TOKEN", "RAY_ADDRESS")}
        env["PYTHONUNBUFFERED"] = "1"  # the log is complete up to the last line even if the process has to be killed
        self.interrupts = 0
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log = open(log, "wb")
        # Ctrl-C as in a user's terminal: SIGINT at its default disposition in the server, whatever the test runner
        # inherited (a job started with `&` by a non-interactive shell ignores SIGINT, exec passes that on, and Python
        # then never turns SIGINT into KeyboardInterrupt - which is how this test once failed only in CI).
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def wait_healthy(self, timeout_s: float = 180.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                r = httpx.get(self.url + "/healthz", timeout=2.0)
                if r.status_code == 200:
                    return r.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"server not healthy after {timeout_s} s:\n{self.tail()}")

    def stop(self, timeout_s: float = 60.0) -> int:
        """Ctrl-C; if Serve's drain has not finished after ``timeout_s``, Ctrl-C again, as a user would (the second
        one interrupts `serve.shutdown()`); SIGKILL only if both are ignored. Returns the exit status."""
        for wait_s in (timeout_s, 30.0):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(signal.SIGINT)
            self.interrupts += 1
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                continue
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        try:  # anything the server left behind in its session
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        return self.proc.returncode

    def tail(self, n: int = 4000) -> str:
        if not self._log.closed:  # after stop() the handle is closed and everything is on disk
            self._log.flush()
        return f"[exit status {self.proc.returncode}]\n" + self.log.read_bytes()[-n:].decode(errors="replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tmp_path_factory.mktemp("serve_run")
    data = yaml.safe_load((ROOT / "configs" / "serve.yaml").read_text())
    data["http_options"]["port"] = port  # the only change: a free port instead of 8000
    config = tmp / "serve.yaml"
    config.write_text(yaml.safe_dump(data))
    server = Server([str(Path(sys.executable).with_name("serve")), "run", str(config)], port, tmp / "server.log")
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def test_serve_run_deploys_the_config_file(server):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok", "pipeline": "canvas_rule", "auth": False}
    task = generate_task(1, 0, "test")
    r = httpx.post(server.url + "/v1/edit", json={"image_base64": base64.b64encode(task.source_png).decode(),
                                                   "instruction": task.instruction}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["checklist"] and list(r.json()["timings_ms"]) == ["thinker", "decomposer", "sorter", "editor", "verifier"]
    assert httpx.get(server.url + "/v1/agents").json()["agents"]["editor"]["backend"] == "canvas"


def _driver(profile: Path, *flags: str):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed; pip install -e '.[dev]'")
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("chromium/chromedriver not found; run `bash scripts/install_browser.sh` (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1200,1400", *flags):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_web_page_edits_a_canvas_sample_and_an_uploaded_file(server, tmp_path):
    driver = _driver(tmp_path / "chromium-profile")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        wait = WebDriverWait(driver, 60)
        driver.get(server.url + "/")
        find = lambda element_id: driver.find_element(By.ID, element_id)  # noqa: E731

        # A Canvas sample: the source image and its instruction appear; submit; the result and checklist appear.
        find("sample-seed").clear()
        find("sample-seed").send_keys("7")
        find("sample-btn").click()
        wait.until(lambda d: find("instruction").get_attribute("value"))
        assert find("instruction").get_attribute("value") == generate_task(7, 0, "test").instruction
        assert find("before-img").get_attribute("src").startswith("data:image/png;base64,")
        find("submit-btn").click()
        wait.until(lambda d: find("result").is_displayed() and find("checklist").find_elements(By.TAG_NAME, "tr"))
        assert driver.execute_script("return document.getElementById('after-img').naturalWidth") == 128
        assert find("plan").text and find("components").find_elements(By.TAG_NAME, "tr")
        answers = [td.text.lower() for td in find("checklist").find_elements(By.CSS_SELECTOR, "td .ans")]
        assert answers and set(answers) <= {"yes", "no", "unknown"}
        assert "score" in find("score").text and find("error").text == ""
        shot_dir = Path(os.environ.get("EDITRL_SCREENSHOT_DIR", tmp_path))
        shot_dir.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot_dir / "serve_page.png"))

        # An uploaded file with a typed instruction.
        image = tmp_path / "upload.png"
        image.write_bytes(generate_task(2, 0, "test").source_png)
        before = find("timings").text
        find("image-file").send_keys(str(image))
        find("instruction").clear()
        find("instruction").send_keys("make the background white")
        find("submit-btn").click()
        wait.until(lambda d: find("timings").text != before)
        assert find("error").text == "" and "white" in find("plan").text.lower()
        assert not find("not-understood").is_displayed()

        # An instruction the pipeline reads no edit into: the page says so instead of showing a score as success.
        before = find("timings").text
        find("instruction").clear()
        find("instruction").send_keys("make it nicer")
        find("submit-btn").click()
        wait.until(lambda d: find("timings").text != before)
        assert find("not-understood").is_displayed() and "no edit understood" in find("not-understood").text
        assert "score 0%" in find("score").text

        # A bad request shows the API's error instead of a result.
        find("instruction").clear()
        find("submit-btn").click()
        wait.until(lambda d: find("error").text)
        assert "422 empty_instruction" in find("error").text
    finally:
        driver.quit()


def test_api_docs_pages_render_offline(server, tmp_path):
    # Every host name but the server's fails to resolve, as on a machine without internet access: Swagger UI and
    # ReDoc must still show the operations, so their scripts must come from the server itself.
    driver = _driver(tmp_path / "chromium-profile", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        driver.get(server.url + "/docs")
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
        paths = {e.text.replace("\u200b", "") for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/v1/edit", "/v1/agents", "/v1/sample", "/healthz"} <= paths, paths
        driver.get(server.url + "/redoc")
        WebDriverWait(driver, 60).until(lambda d: "Edit an image from an instruction" in d.find_element(By.TAG_NAME, "body").text)
    finally:
        driver.quit()


def test_ctrl_c_stops_the_server_cleanly(server):
    code = server.stop()
    # One Ctrl-C: Serve drains and `serve run` exits 0. Should the drain ever stall past a minute, a second Ctrl-C
    # ends it by SIGINT, as a user would press it. Never a SIGKILL, never left serving.
    assert code == 0 or (server.interrupts == 2 and code in (-signal.SIGINT, 1, 130)), server.tail()
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url + "/healthz", timeout=2.0)
