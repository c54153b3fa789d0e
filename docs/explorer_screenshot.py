"""Make ``docs/explorer.png``: the explorer on the shipped model, in headless Chromium, after the intro figure's
game with its edit (flip e4), the layer strip at layer 6 and one head's attention.

    python docs/explorer_screenshot.py [--out docs/explorer.png]
"""

from __future__ import annotations

import argparse
import shutil

from othello.explorer.server import Background, create_app
from othello.explorer.service import ExplorerBackend
from othello.model import load_model

GAME = "d3c3f5d2c2e3c4b3e2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/explorer.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    running = Background(create_app(ExplorerBackend(load_model(), name="small8")))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium"),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1300, "height": 1600})
            page.goto(f"{running.url}/#m={GAME}&e=e4:flip")
            page.wait_for_selector("#edited-board [data-edited-square]")
            page.click("#layer-strip figure[data-layer='6']")
            page.select_option("#head-layer", "1")
            page.click("#show-heads")
            page.wait_for_selector("#attention rect")
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        running.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
