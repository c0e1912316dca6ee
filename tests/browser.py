"""Helpers for the dashboard's browser tests: the real app in a subprocess, Debian's Chromium driven by Playwright.

Nothing here downloads a browser: Playwright drives /usr/bin/chromium through `executable_path`, and the tests
skip (with the reason) where it or Playwright is missing.

    with DashboardApp(bundle, clips=[clip_dir], log_dir=tmp_path) as app:
        browser = launch_chromium(playwright)
        page = open_dashboard(browser, app.url)

The README's screenshot comes from the same pieces: `python tests/browser.py --out docs/dashboard.png`.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: Flags measured to work headless in a container (no GPU, small /dev/shm, no network).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
APP_START_TIMEOUT_S = 90.0
#: Generous waits for what the page shows: the machine may be shared with other heavy jobs.
WAIT_MS = 60_000


def browser_unavailable_reason() -> str | None:
    """None when Playwright and Debian's Chromium are both there; else why the browser tests skip."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (install Debian's chromium; the tests never download a browser)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright's Python package is not installed ({exc})"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DashboardApp:
    """`python demo_app.py` on a free loopback port, until stop(); its output goes to `log_dir/app.log`."""

    def __init__(
        self,
        bundle: Path,
        clips: list[Path] = (),
        log_dir: Path | None = None,
        extra_args: list[str] = (),
        env: dict[str, str] | None = None,
    ):
        self.port = free_port()
        self.log_dir = Path(log_dir) if log_dir else Path.cwd()
        self.alerts_log = self.log_dir / "alerts.jsonl"
        self.args = [
            sys.executable,
            str(REPO / "demo_app.py"),
            "--bundle",
            str(bundle),
            "--port",
            str(self.port),
            "--alerts-log",
            str(self.alerts_log),
            *extra_args,
        ]
        for clip_dir in clips:
            self.args += ["--clips", str(clip_dir)]
        self.env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", **(env or {}))
        self.proc: subprocess.Popen | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> "DashboardApp":
        self.proc = subprocess.Popen(
            self.args, cwd=self.log_dir, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + APP_START_TIMEOUT_S
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:  # the process ended
                break
            if "Running on local URL" in line:
                return self
        self.stop()
        raise RuntimeError(
            f"dashboard did not start within {APP_START_TIMEOUT_S:.0f} s; output:\n" + "".join(self.output[-40:])
        )

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log_dir / "app.log", "a") as log:
            for line in self.proc.stdout:
                self.output.append(line)
                log.write(line)
                log.flush()
                self._lines.put(line)
        self._lines.put(None)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> "DashboardApp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_chromium(playwright, fake_camera: Path | None = None):
    """Headless Debian Chromium; with `fake_camera` (an MJPEG or y4m file) as the webcam every page sees."""
    args = list(CHROMIUM_ARGS)
    if fake_camera is not None:
        args += [
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_camera}",
        ]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)


def open_dashboard(browser, url: str, camera: bool = False):
    """A new page (own context, so its own Gradio session) with the dashboard loaded and ready."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, permissions=["camera"] if camera else [])
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url, wait_until="load")  # never "networkidle": the page keeps a stream open while it runs
    page.wait_for_selector("#start")
    return page


def make_fake_camera(clip: Path, out: Path, width: int = 320, height: int = 240) -> Path:
    """Turn a clip into an MJPEG file Chromium's fake camera can play (loops it)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg not found (needed to make the fake camera's MJPEG file)")
    subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(clip),
            "-vf",
            f"scale={width}:{height}",
            "-c:v",
            "mjpeg",
            "-q:v",
            "5",
            str(out),
        ],
        check=True,
        timeout=120,
    )
    return out


def markdown_text(page, elem_id: str) -> str:
    """The rendered text of a gr.Markdown (without Gradio's progress overlay)."""
    return page.locator(f"#{elem_id} [data-testid='markdown']").inner_text()


def wait_for_markdown(page, elem_id: str, *needles: str, timeout_ms: int = WAIT_MS) -> str:
    """Wait until a gr.Markdown's text contains every needle; returns the text."""
    page.wait_for_function(
        """([id, needles]) => {
            const el = document.querySelector(`#${id} [data-testid='markdown']`);
            return !!el && needles.every(n => el.innerText.includes(n));
        }""",
        arg=[elem_id, list(needles)],
        timeout=timeout_ms,
    )
    return markdown_text(page, elem_id)


def wait_for_markdown_change(page, elem_id: str, old: str, *needles: str, timeout_ms: int = WAIT_MS) -> str:
    """Wait until a gr.Markdown's text differs from `old` and contains every needle; returns the text."""
    page.wait_for_function(
        """([id, old, needles]) => {
            const el = document.querySelector(`#${id} [data-testid='markdown']`);
            return !!el && el.innerText !== old && needles.every(n => el.innerText.includes(n));
        }""",
        arg=[elem_id, old, list(needles)],
        timeout=timeout_ms,
    )
    return markdown_text(page, elem_id)


def prediction_number(status: str) -> int:
    """The running prediction count the status line shows ("prediction #12 at t=..."), 0 before the first."""
    marker = "prediction #"
    if marker not in status:
        return 0
    digits = status.split(marker, 1)[1].split()[0]
    return int(digits)


def status_figure(status: str, name: str, unit: str) -> float:
    """A figure of the status line, e.g. status_figure(s, "capture", "fps") for "capture 9.8 fps" (nan if absent)."""
    match = re.search(rf"{re.escape(name)} (\d+(?:\.\d+)?) ?{re.escape(unit)}", status)
    return float(match.group(1)) if match else float("nan")


def wait_for_prediction_after(page, n: int, elem_id: str = "live-status", timeout_ms: int = WAIT_MS) -> str:
    """Wait until the status line reports a prediction numbered above `n`; returns the status text."""
    page.wait_for_function(
        """([id, n]) => {
            const el = document.querySelector(`#${id} [data-testid='markdown']`);
            const m = el && el.innerText.match(/prediction #(\\d+)/);
            return !!m && parseInt(m[1]) > n;
        }""",
        arg=[elem_id, n],
        timeout=timeout_ms,
    )
    return markdown_text(page, elem_id)


def image_src(page, elem_id: str) -> str:
    """The URL of the picture a gr.Image shows ('' when empty)."""
    img = page.locator(f"#{elem_id} img")
    return (img.first.get_attribute("src") or "") if img.count() else ""


def wait_for_new_image(page, elem_id: str, old_src: str, timeout_ms: int = WAIT_MS) -> str:
    page.wait_for_function(
        """([id, old]) => {
            const img = document.querySelector(`#${id} img`);
            return !!img && !!img.getAttribute('src') && img.getAttribute('src') !== old;
        }""",
        arg=[elem_id, old_src],
        timeout=timeout_ms,
    )
    return image_src(page, elem_id)


def take_screenshot(bundle: Path, out: Path, predictions: int = 20) -> Path:
    """The README's picture: the real app on `bundle` streaming the demo clip, after `predictions` predictions."""
    import tempfile

    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory() as work,
        DashboardApp(bundle, log_dir=Path(work)) as app,
        sync_playwright() as pw,
    ):
        browser = launch_chromium(pw)
        page = open_dashboard(browser, app.url)
        page.click("#start")
        wait_for_prediction_after(page, predictions, timeout_ms=max(WAIT_MS, 3000 * predictions))
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="take the dashboard screenshot for the README (real app, real browser)")
    ap.add_argument("--bundle", type=Path, default=REPO / "models" / "demo")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "dashboard.png")
    ap.add_argument("--predictions", type=int, default=20, help="wait for this many predictions first")
    args = ap.parse_args()
    reason = browser_unavailable_reason()
    if reason:
        sys.exit(f"error: {reason}")
    print(take_screenshot(args.bundle, args.out, args.predictions))
