"""A screenshot of the app's page for the docs: ``python -m d2e_zoo.app.screenshot docs/images/app.png``.

Builds the app in this process, serves it on a free local port, opens it in headless Chromium
(Playwright with the system's browser, ``--chromium``; nothing is downloaded), waits until the
first translation's pictures are drawn, and saves the top of the page (``--width`` x
``--height`` CSS pixels) as a PNG with a small palette, so that the file stays small.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import socket
import sys
from pathlib import Path
from ..argtypes import HelpFormatter

logger = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DRAWN = "(sel) => { const el = document.querySelector(sel); return !!el && el.complete && el.naturalWidth > 0; }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_png(png: bytes, colours: int = 64) -> bytes:
    """``png`` re-encoded with a palette of ``colours`` (the page is mostly flat colours and grey digits)."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _shoot(browser, url: str, width: int, height: int, timeout_s: float) -> bytes:
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(url, wait_until="domcontentloaded")
        for elem_id in ("pairs", "animation", "frame"):
            page.wait_for_function(DRAWN, arg=f"#{elem_id} img", timeout=timeout_s * 1000)
        return page.screenshot()
    finally:
        page.close()


def take(path, width: int = 1280, height: int = 900, chromium: str = CHROMIUM, timeout_s: float = 120,
         browser=None) -> Path:
    """Serve the app, open it, wait for the first translation and save the screenshot to
    ``path``. ``browser``: a Playwright browser to use (else the system's Chromium is started)."""
    if browser is None:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise SystemExit("the screenshot needs Playwright: pip install playwright (the browser itself is the "
                             f"system's Chromium, {chromium})") from None
        if not os.path.exists(chromium):
            raise SystemExit(f"no Chromium at {chromium} (apt-get install -y chromium, or pass --chromium PATH)")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from . import ui

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    demo = ui.build_demo()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **ui.launch_kwargs())
    try:
        if browser is not None:
            png = _shoot(browser, url, width, height, timeout_s)
        else:
            with sync_playwright() as p:
                own = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    png = _shoot(own, url, width, height, timeout_s)
                finally:
                    own.close()
    finally:
        demo.close()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(small_png(png))
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.app.screenshot", formatter_class=HelpFormatter,
                                description="Save a screenshot of the d2e-zoo app's page (for the docs).")
    p.add_argument("path", nargs="?", default="docs/images/app.png", help="where to write the PNG")
    p.add_argument("--width", type=int, default=1280, help="browser window width in CSS pixels")
    p.add_argument("--height", type=int, default=900, help="height of the part of the page kept")
    p.add_argument("--chromium", default=CHROMIUM, help="the Chromium to drive")
    args = p.parse_args(argv)
    if not (320 <= args.width <= 4000 and 200 <= args.height <= 8000):
        p.error("--width must be from 320 to 4000 and --height from 200 to 8000")
    logging.basicConfig(level=logging.WARNING)
    path = take(args.path, args.width, args.height, args.chromium)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
