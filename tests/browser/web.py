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

Before that, the Chinese reader (max_items = 2) is sent a digest of the
Chinese demo feed's four articles: the mail (file delivery) shows two and
ends with "N more articles in the full digest"; that link, taken from the
mail and followed to the daemon as a reverse proxy would forward it, opens
the archive page, which check.py's checks pass at 375 px in both schemes
and which holds every article the feed file has (titles read from the
feed itself, not from our output).

Prints one line per check and `browser web: N passed, M failed`; exits 1 if
any failed. Usage: web.py --bin FEED_DIGEST --chromium CHROMIUM --screenshots DIR
"""

import argparse
import base64
import email
import email.policy
import html
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse
from xml.etree import ElementTree

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
max_items = 2

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


def feed_titles(path):
    """The item titles of an RSS file, as the feed itself has them."""
    return [item.findtext("title", "").strip() for item in ElementTree.parse(path).getroot().iter("item")]


def sent_mail(work):
    """The HTML part of the one mail file delivery wrote."""
    mails = sorted((work / "mail").glob("*.eml"))
    if len(mails) != 1:
        raise check.BrowserError(f"expected one mail in {work / 'mail'}, found {len(mails)}")
    message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    part = message.get_body(preferencelist=("html",))
    if part is None:
        raise check.BrowserError(f"{mails[0]} has no HTML part")
    return mails[0], part.get_content()


def check_archive(chromium, work, addr, titles, shots):
    """Yields (label, problem or None): the mail's "N more" link leads to
    an archive page that shows every article."""
    mail, body = sent_mail(work)
    page = work / "mail.html"
    page.write_text(body, encoding="utf-8")
    in_mail = check.render(chromium, page, WIDTH, "light", shots / f"web-mail-zh-CN-{WIDTH}-light.png")["titleTexts"]
    more = re.search(r'<a [^>]*id="more-online" href="([^"]+)"[^>]*>([^<]*)</a>', body)
    yield "the mail shows max_items and links the rest", (
        None if len(in_mail) == 2 and set(in_mail) <= set(titles) and more
        and f"还有 {len(titles) - 2} 篇" in more.group(2)
        else f"{mail} shows {in_mail} of {titles}; more link: {more and more.group(0)!r}")
    if not more:
        return
    link = html.unescape(more.group(1))
    view = re.search(r'<a [^>]*href="([^"]+/a/[0-9a-f]{32}\.html)"', body)
    yield "View in browser links the same page", (
        None if view and html.unescape(view.group(1)) == link else f"view-online link: {view and view.group(0)!r}")
    # What the reverse proxy does: the public URL's path, to the daemon.
    origin = f"http://{addr}"
    url = origin + urlparse(link).path
    with urllib.request.urlopen(url, timeout=10) as answer:
        served = answer.read().decode("utf-8")
    yield "the archive page names no reader", (
        "alice@example.org" in served or "/news/u/" in served) and "it shows the address or an unsubscribe link" or None
    for scheme in ("light", "dark"):
        shot = shots / f"web-archive-zh-CN-{WIDTH}-{scheme}.png"
        result = check.render(chromium, url, WIDTH, scheme, shot, served_from=origin)
        missing = [t for t in titles if t not in result["titleTexts"]]
        problems = result["problems"] + ([f"missing articles: {missing}"] if missing else [])
        if len(result["titleTexts"]) != len(titles):
            problems.append(f"{len(result['titleTexts'])} titles shown, the feed has {len(titles)}")
        yield f"archive page {scheme} ({len(result['titleTexts'])} articles)", "; ".join(problems) or None


def check_reader(chromium, binary, config, addr, reader, shots):
    """Yields (label, problem or None) for one reader's pages."""
    email, lang, before, after = reader
    link = feed_digest(binary, config, "subscribers", "link", email).strip()
    url = f"http://{addr}{urlparse(link).path}"
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
    # Loopback is the one address that must resolve.
    check.CHROMIUM_FLAGS[:] = [f if not f.startswith("--host-resolver-rules") else
                              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" for f in check.CHROMIUM_FLAGS]
    passed = failed = 0
    proc = None
    try:
        (work / "feeds").mkdir()
        shutil.copy(ROOT / "config/demo/world-zh.xml", work / "feeds/world-zh.xml")
        config = work / "config.toml"
        config.write_text(CONFIG)
        # Alice's digest is sent before the daemon starts: it is the archive page served.
        feed_digest(args.bin, config, "poll")
        feed_digest(args.bin, config, "send", "--subscriber", "alice@example.org")
        proc, addr = start_daemon(args.bin, config)
        titles = feed_titles(work / "feeds/world-zh.xml")
        checks = [lambda: check_archive(args.chromium, work, addr, titles, args.screenshots)]
        checks += [lambda r=r: check_reader(args.chromium, args.bin, config, addr, r, args.screenshots)
                   for r in READERS]
        for what, run in zip(["archive"] + [r[0] for r in READERS], checks):
            try:
                for label, problem in run():
                    if problem:
                        print(f"browser web: {label}: FAILED: {problem}")
                        failed += 1
                    else:
                        print(f"browser web: {label}: ok")
                        passed += 1
            except Exception as e:  # the harness, the daemon or Chromium broke
                print(f"browser web: {what}: FAILED: {e}")
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
