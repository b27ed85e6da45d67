"""Take PNG screenshots of the app's main pages into docs/screenshots/, in a real headless Chromium.

    python docs/make_screenshots.py              # builds the demo knowledge base (real models) in a temp folder
    python docs/make_screenshots.py --kb DIR     # or uses an existing one
    python docs/make_screenshots.py --fake       # fast: hashing embedder + simple topic extractor

Starts `streamlit run app.py` on a free loopback port and drives Debian's Chromium through Playwright
(never a downloaded browser). The browser end-to-end test imports `running_app` and `browser` from here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FAKES = {"MENTORKB_EMBEDDER_MODEL": "hashing", "MENTORKB_SPACY_MODEL": "simple"}
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_app(kb_dir: Path, env: dict[str, str] | None = None, *, timeout_s: float = 90) -> Iterator[str]:
    """Run the app on a free loopback port until the block ends; yields its URL."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    proc_env = {**os.environ, **OFFLINE, **(env or {}), "MENTORKB_KB": str(kb_dir)}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=proc_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(proc, log, url, timeout_s)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(proc: subprocess.Popen, log: Any, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"streamlit did not answer on {url} within {timeout_s:.0f} s")
        time.sleep(0.3)


@contextmanager
def browser(width: int = 1440, height: int = 1000) -> Iterator[Any]:
    """A page in Debian's headless Chromium (Playwright never downloads a browser here)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = b.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
            page.set_default_timeout(90_000)
            yield page
        finally:
            b.close()


def wait_idle(page: Any, quiet_ms: int = 1200) -> None:
    """Wait until Streamlit has stayed idle (no "running" indicator, no spinner) for quiet_ms."""
    page.wait_for_function(
        """(quiet) => {
            const busy = document.querySelector('[data-testid="stStatusWidget"]')
                || document.querySelector('[data-testid="stSpinner"]');
            const now = performance.now();
            if (busy) { window.__mkbIdleSince = null; return false; }
            window.__mkbIdleSince = window.__mkbIdleSince || now;
            return now - window.__mkbIdleSince >= quiet;
        }""",
        arg=quiet_ms,
        polling=200,
        timeout=180_000,
    )


def open_page(page: Any, url: str, path: str = "", heading: str = "", expect: str = "") -> None:
    """Go to a page of the app and wait until it has rendered (down to the text `expect`, if given)."""
    page.goto(f"{url}/{path}")
    if heading:
        page.get_by_role("heading", name=heading).first.wait_for()
    if expect:
        page.get_by_text(expect).first.wait_for(timeout=180_000)
    wait_idle(page)


def pick_identity(page: Any, name: str) -> None:
    """Choose who you are in the local-mode sidebar."""
    box = page.get_by_test_id("stSidebar").get_by_role("combobox").first
    box.click()
    box.fill(name)
    page.get_by_role("option", name=name).first.click()
    wait_idle(page)


def ask(page: Any, question: str) -> None:
    """Ask a question on the Find page and wait for the answer."""
    page.get_by_label("Your question").fill(question)
    page.get_by_role("button", name="Find people").click()
    page.get_by_text("View profile").first.wait_for(timeout=180_000)
    wait_idle(page)


def content_height(page: Any) -> int:
    """Height in pixels of the app's content (the main block), independent of the window size."""
    return int(
        page.evaluate(
            """() => {
                const main = document.querySelector('[data-testid="stMain"]');
                const block = document.querySelector('[data-testid="stMainBlockContainer"]');
                if (!main || !block) return 0;
                return block.getBoundingClientRect().bottom - main.getBoundingClientRect().top + main.scrollTop;
            }"""
        )
    )


def shoot(page: Any, name: str, out: Path, max_height: int = 2600) -> Path:
    """Save a PNG of the whole page (up to max_height pixels tall)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    # Streamlit scrolls inside its main container, so a "full page" shot is only the window: grow the window
    # to the content. Elements out of view render lazily (grey skeletons) and charts settle late, so repeat
    # until the height stops changing.
    size = page.viewport_size
    height = 0
    for _ in range(6):
        page.wait_for_function("() => !document.querySelector('[data-testid*=\"Skeleton\"]')", timeout=30_000)
        page.wait_for_timeout(1500)
        now = min(content_height(page) + 40, max_height)
        if now <= height:
            break
        height = now
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


def shoot_topics(page: Any, url: str, out: Path, topic: str = "short video") -> Path:
    """The Topics page, drilled down into one topic when this version has topic clusters."""
    open_page(page, url, "topics", "Topics")
    drill = page.get_by_label("Drill down into a topic")
    if drill.count():
        drill.click()
        page.get_by_role("option", name=topic).first.click()
        page.get_by_text("What was said").first.wait_for(timeout=180_000)
        wait_idle(page)
    return shoot(page, "topics", out)


def take_all(url: str, out: Path) -> list[Path]:
    """Screenshots of the main pages, each in a telling state."""
    shots = []
    with browser() as page:
        open_page(page, url, "", "Who can teach me…?")
        pick_identity(page, "Margaret Okonkwo — Chief Operating Officer (L8)")
        ask(page, "Who could show me how to make short vertical videos for social media?")
        shots.append(shoot(page, "find", out))

        open_page(page, url, "insights", "Earlier insights")
        page.get_by_label("Search earlier sessions").fill("how to explain a forecast miss to the board")
        page.get_by_role("button", name="Search").click()
        page.get_by_text("Open line").first.wait_for(timeout=180_000)
        wait_idle(page)
        shots.append(shoot(page, "insights", out))

        open_page(page, url, "people?person=priya.nair", "People", "Recent sessions")
        shots.append(shoot(page, "people", out))

        open_page(page, url, "sessions?session=2025-02-04-incoterms-dap-vs-ddp&lines=17-20", "Sessions", "Cited lines")
        shots.append(shoot(page, "sessions", out))

        shots.append(shoot_topics(page, url, out))

        open_page(page, url, "upload", "Upload notes")
        shots.append(shoot(page, "upload", out))
    return shots


def build_demo(kb_dir: Path, env: dict[str, str]) -> None:
    """Ingest the demo corpus into kb_dir with the given model settings."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from mentorkb.service import KnowledgeBase

    kb = KnowledgeBase.open(kb_dir)
    try:
        demo = ROOT / "mentorkb" / "demo"
        report = kb.ingest([demo / "notes"], roster=demo / "people.csv")
    finally:
        kb.close()
    if report.rejected:
        raise SystemExit(f"demo corpus rejected: {report.rejected}")


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kb", type=Path, help="existing knowledge base (default: build the demo in a temp folder)")
    ap.add_argument("--fake", action="store_true", help="use the hashing embedder and simple topic extractor")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    env = dict(OFFLINE, **(FAKES if args.fake else {}))
    tmp = None
    kb_dir = args.kb
    if kb_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="mentorkb-shots-"))
        kb_dir = tmp / "kb"
        print(f"building the demo knowledge base in {kb_dir} …", flush=True)
        build_demo(kb_dir, env)
    try:
        with running_app(kb_dir, env) as url:
            for path in take_all(url, args.out):
                print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
