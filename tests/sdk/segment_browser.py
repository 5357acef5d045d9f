"""Segment's analytics.js in headless Chromium (Debian's, through Playwright): loads the local
page tests/tests/stack/segment_sdks.rs serves, waits until its calls were sent, and prints the
URL of every request the page made, as a JSON list on the last line. Exits non-zero on a page
error or when the calls were not sent. A screenshot goes to COLLOQUY_ARTIFACTS.
"""

import json
import os

from playwright.sync_api import sync_playwright

PAGE = os.environ["COLLOQUY_PAGE_URL"]
CHROMIUM = os.environ["COLLOQUY_CHROMIUM"]
ARTIFACTS = os.environ["COLLOQUY_ARTIFACTS"]


def main():
    problems = []
    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(PAGE)
        page.wait_for_function("window.colloquyDone !== undefined", timeout=30_000)
        done = page.evaluate("window.colloquyDone")
        page.screenshot(path=os.path.join(ARTIFACTS, "segment-page.png"))
        browser.close()
    assert done == "sent", done
    assert not problems, problems
    print(json.dumps(requests))


main()
