#!/usr/bin/env python3
"""Real-browser check of the readers' web pages, in headless Chromium.

Starts `feed-digest run` with `[web]` on a loopback port (file delivery, the
demo feeds), asks `feed-digest subscribers link` for each subscriber's
link, and for an English and a Chinese reader:

- opens the link (a GET): the confirmation page shows its button, and the
  store still has the reader receiving (`subscribers list`);
- screenshots it at 375 px in the light and the dark scheme (no sideways
  scrolling allowed);
- clicks the button: the page says they are unsubscribed, and
  `subscribers list` says so, "by the unsubscribe page".

Prints one line per check and `browser web: N passed, M failed`; exits 1 if
any failed. Usage: web.py --bin FEED_DIGEST --chromium CHROMIUM --screenshots DIR
"""

import argparse
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check  # noqa: E402  (the Chromium driver of the digest check)

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 375
READERS = [
    # email, language, heading before, heading after
    ("bob@example.org", "en", "Unsubscribe?", "You are unsubscribed"),
    ("alice@example.org", "zh-CN", "要退订吗？", "已退订"),
]

CONFIG = """
state_dir = "state"
poll = "1h"
first_poll_window = "all"

[delivery]
transport = "file"
dir = "mail"

[smtp]
from = "Digest <digest@example.org>"

[web]
listen = "127.0.0.1:0"
base_url = "https://digest.example.org/news"

[[feeds]]
url = "feeds/world-zh.xml"

[[subscribers]]
email = "alice@example.org"
schedule = "07:00"
language = "zh-CN"

[[subscribers]]
email = "bob@example.org"
schedule = "07:00"
"""


def feed_digest(binary, config, *args):
    out = subprocess.run([binary, "--config", str(config), *args], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise check.BrowserError(f"feed-digest {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def start_daemon(binary, config):
    """The daemon and the address its web endpoint listens on."""
    proc = subprocess.Popen([binary, "--config", str(config), "run"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"web endpoint listening on http://([0-9.:]+)/", line)
        if m:
            # Keep reading its log, or a full pipe would stall it.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, m.group(1)
    proc.kill()
    raise check.BrowserError("the daemon did not report its web endpoint:\n" + "".join(lines[-10:]))


def open_page(browser, session, url, scheme):
    browser.send("Emulation.setEmulatedMedia", {
        "media": "screen", "features": [{"name": "prefers-color-scheme", "value": scheme}],
    }, session)
    browser.send("Page.navigate", {"url": url}, session)
    browser.wait_event("Page.loadEventFired", session)
    check.evaluate(browser, session, "document.fonts.ready.then(() => true)", await_promise=True)


def page_state(browser, session):
    return check.evaluate(browser, session, """({
        heading: document.getElementById('heading')?.textContent ?? '',
        button: document.getElementById('action')?.textContent ?? null,
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        background: getComputedStyle(document.body).backgroundColor,
    })""")


def screenshot(browser, session, path):
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def check_reader(chromium, binary, config, addr, reader, shots):
    """Yields (label, problem or None) for one reader's pages."""
    email, lang, before, after = reader
    link = feed_digest(binary, config, "subscribers", "link", email).strip()
    url = f"http://{addr}{urlparse(link).path}"
    # Loopback is the one address that must resolve.
    check.CHROMIUM_FLAGS[:] = [f if not f.startswith("--host-resolver-rules") else
                              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" for f in check.CHROMIUM_FLAGS]
    browser = check.Chromium(chromium, time.monotonic() + check.RUN_TIMEOUT)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.send("Page.enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride", {
            "width": WIDTH, "height": 640, "deviceScaleFactor": 2, "mobile": True,
        }, session)
        backgrounds = {}
        for scheme in ("light", "dark"):
            open_page(browser, session, url, scheme)
            state = page_state(browser, session)
            backgrounds[scheme] = state["background"]
            screenshot(browser, session, shots / f"web-unsubscribe-{lang}-{WIDTH}-{scheme}.png")
            problem = None
            if state["heading"] != before or not state["button"]:
                problem = f"the GET page shows {state['heading']!r} with button {state['button']!r}"
            elif state["overflow"] > 1:
                problem = f"the page scrolls sideways by {state['overflow']} px at {WIDTH} px"
            yield f"{email} GET page {scheme}", problem
        yield f"{email} dark scheme differs", (
            None if backgrounds["light"] != backgrounds["dark"] else f"both backgrounds {backgrounds['light']}")
        listed = feed_digest(binary, config, "subscribers", "list")
        yield f"{email} still receiving after the GETs", (
            None if f"{email}: receiving" in listed else f"subscribers list says:\n{listed}")
        open_page(browser, session, url, "light")
        check.evaluate(browser, session, "document.getElementById('action').click(), true")
        browser.wait_event("Page.loadEventFired", session)
        state = page_state(browser, session)
        screenshot(browser, session, shots / f"web-unsubscribed-{lang}-{WIDTH}-light.png")
        yield f"{email} confirmation after the click", (
            None if state["heading"] == after else f"the page shows {state['heading']!r}")
        listed = feed_digest(binary, config, "subscribers", "list")
        done = re.search(re.escape(email) + r": unsubscribed since .* \(by the unsubscribe page\)", listed)
        yield f"{email} unsubscribed in the store", None if done else f"subscribers list says:\n{listed}"
    finally:
        browser.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"))
    ap.add_argument("--screenshots", default="target/screenshots", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fd-browser-web-"))
    passed = failed = 0
    proc = None
    try:
        (work / "feeds").mkdir()
        shutil.copy(ROOT / "config/demo/world-zh.xml", work / "feeds/world-zh.xml")
        config = work / "config.toml"
        config.write_text(CONFIG)
        proc, addr = start_daemon(args.bin, config)
        for reader in READERS:
            try:
                for label, problem in check_reader(args.chromium, args.bin, config, addr, reader, args.screenshots):
                    if problem:
                        print(f"browser web: {label}: FAILED: {problem}")
                        failed += 1
                    else:
                        print(f"browser web: {label}: ok")
                        passed += 1
            except Exception as e:  # the harness, the daemon or Chromium broke
                print(f"browser web: {reader[0]}: FAILED: {e}")
                failed += 1
            sys.stdout.flush()
    except Exception as e:
        print(f"browser web: FAILED: {e}")
        failed += 1
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = "killed"
            if code != 0:
                print(f"browser web: the daemon exited with {code}: FAILED")
                failed += 1
        shutil.rmtree(work, ignore_errors=True)
    print(f"browser web: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
