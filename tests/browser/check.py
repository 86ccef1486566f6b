#!/usr/bin/env python3
"""Real-browser check of feed-digest's HTML digests (driven by tests/browser/check.sh).

For every HTML file, at 375 and 800 CSS px wide, in the light and the dark
colour scheme, headless Chromium loads the file and this script checks that

  1. nothing overflows horizontally (scrollWidth, and every element's box),
  2. every article title, section heading and `a.fd-link` is visible: a
     non-empty box inside the viewport, not hidden, and with a colour that
     contrasts with the background it sits on,
  3. the requested colour scheme took effect (`prefers-color-scheme` matches
     and the body background is dark / light),

and saves a full-page screenshot as <shots>/<name>-<width>-<light|dark>.png.

Chromium is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: fd 3 in, fd 4 out, NUL-terminated JSON), so only the
Python standard library is needed. The viewport is set with
Emulation.setDeviceMetricsOverride because a headless *window* cannot be
narrower than 500 px (--window-size=375,... yields innerWidth 500), and the
colour scheme with Emulation.setEmulatedMedia. Every Chromium run is wrapped
in `timeout 60`. Host names resolve to nothing and remote images are answered
with a placeholder PNG (Fetch.fulfillRequest), so thumbnails take their place
in the layout and the result never depends on the network.
"""

import argparse
import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

WIDTHS = (375, 800)
SCHEMES = ("light", "dark")
RUN_TIMEOUT = 60  # seconds, for each Chromium run (the `timeout` wrapper)
MAX_SHOT_HEIGHT = 8000
LOAD_HEIGHT = 200  # viewport height while loading; grown to the page height afterwards

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    # The network is closed here and the digest's images point at hosts that
    # don't exist: make every lookup fail at once, on every machine alike.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
]

# Runs inside the page. Returns a JSON-able object; `problems` lists failures.
CHECK_JS = r"""
(() => {
  const SCHEME = __SCHEME__;
  const WIDTH = __WIDTH__;
  const SLACK = 1;  // px of rounding we tolerate
  const MIN_CONTRAST = 3.0;
  const problems = [];
  const vw = window.innerWidth;
  const de = document.documentElement;

  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  // Any CSS colour string -> [r, g, b, a(0..1)], via the canvas so every
  // syntax Chromium may print (rgb(), color(srgb ...), ...) is understood.
  function rgba(css) {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = '#000';
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    if (d[3] === 0) return [0, 0, 0, 0];
    // getImageData is premultiplied-free but rounds; undo alpha for colour.
    return [d[0], d[1], d[2], d[3] / 255];
  }
  function luminance(c) {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  }
  function contrast(a, b) {
    const la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }
  function hex(c) { return '#' + c.slice(0, 3).map(v => v.toString(16).padStart(2, '0')).join(''); }
  function describe(el) {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    if (typeof el.className === 'string' && el.className.trim()) s += '.' + el.className.trim().split(/\s+/).join('.');
    const text = (el.textContent || '').replace(/\s+/g, ' ').trim();
    if (text) s += ' "' + (text.length > 40 ? text.slice(0, 40) + '…' : text) + '"';
    else if (el.tagName === 'IMG') s += ' src=' + (el.getAttribute('src') || '').slice(0, 60);
    return s;
  }
  function px(v) { return Math.round(v * 10) / 10; }
  // Nearest element (from el upwards) whose background is not transparent.
  function backgroundOf(el) {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0.5) return {color: c, from: e};
    }
    // Nothing painted: the canvas colour, which follows the used colour scheme.
    return {color: SCHEME === 'dark' ? [18, 18, 18, 1] : [255, 255, 255, 1], from: null};
  }
  function rendered(el) {
    return el.getClientRects().length > 0;
  }

  if (vw !== WIDTH)
    problems.push(`viewport is ${vw}px wide, not the requested ${WIDTH}px (device metrics emulation did not take effect)`);
  // Remote images are answered with a placeholder PNG; one that did not
  // load means the harness (not the digest) is broken.
  const images = [...document.images].filter(img => /^https?:/i.test(img.currentSrc || img.src));
  for (const img of images)
    if (!img.complete || img.naturalWidth === 0)
      problems.push(`image ${(img.getAttribute('src') || '').slice(0, 80)} did not load (the placeholder was not served)`);

  // --- 3. colour scheme took effect -------------------------------------
  const darkMatches = matchMedia('(prefers-color-scheme: dark)').matches;
  if (darkMatches !== (SCHEME === 'dark'))
    problems.push(`prefers-color-scheme: dark ${darkMatches ? 'matches' : 'does not match'} in the ${SCHEME} run (emulation did not take effect)`);
  const bodyBg = backgroundOf(document.body).color;
  const bodyLum = luminance(bodyBg);
  if (SCHEME === 'dark' && !(bodyLum < 0.3))
    problems.push(`body background ${hex(bodyBg)} is not dark in the dark run (luminance ${bodyLum.toFixed(2)} >= 0.3): the @media (prefers-color-scheme: dark) rules did not apply`);
  if (SCHEME === 'light' && !(bodyLum >= 0.3))
    problems.push(`body background ${hex(bodyBg)} is not light in the light run (luminance ${bodyLum.toFixed(2)} < 0.3)`);

  // --- 1. horizontal overflow ---------------------------------------------
  if (de.scrollWidth > vw + SLACK)
    problems.push(`page is ${de.scrollWidth}px wide (document.documentElement.scrollWidth) but the viewport is ${vw}px`);
  const offenders = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (!rendered(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > vw + SLACK || r.left < -SLACK) offenders.push(el);
  }
  // Name the cause, not just the outermost victim (in a table layout the
  // whole chain of tables widens). Starting at <body>: hide all children of
  // the current element, show them again one by one, and descend into the
  // first whose return makes the page overflow (its later siblings stay
  // hidden meanwhile). Stop at an element that overflows with all its
  // children hidden: its own width or text is the cause. Then hide that
  // cause and look for the next, up to 5; finally restore everything.
  function details(el) {
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    let d = `${describe(el)}: box ${px(r.left)}..${px(r.right)}px, computed width ${cs.width}`;
    if (cs.minWidth !== '0px' && cs.minWidth !== 'auto') d += `, min-width ${cs.minWidth}`;
    if (el.getAttribute('width')) d += `, width attribute ${el.getAttribute('width')}`;
    if (cs.whiteSpace !== 'normal') d += `, white-space:${cs.whiteSpace}`;
    if (el.tagName === 'IMG') d += `, natural width ${el.naturalWidth}px`;
    const st = el.getAttribute('style');
    if (st) d += `, style "${st.slice(0, 120)}"`;
    const words = (el.textContent || '').split(/\s+/).sort((a, b) => b.length - a.length);
    if (words[0] && words[0].length > 20)
      d += `; longest unbroken word "${words[0].slice(0, 40)}${words[0].length > 40 ? '…' : ''}" (${words[0].length} chars)`;
    return d;
  }
  function hide(el) {
    const old = el.getAttribute('style');
    el.style.setProperty('display', 'none', 'important');
    return () => { if (old === null) el.removeAttribute('style'); else el.setAttribute('style', old); };
  }
  const pageWidth = () => de.scrollWidth;
  const overflowing = () => pageWidth() > vw + SLACK;
  function findCause() {
    const undo = [];
    let el = document.body;
    try {
      for (;;) {
        const kids = [...el.children].filter(rendered);
        const kidUndo = kids.map(hide);
        if (!kids.length || overflowing()) { kidUndo.forEach(u => u()); return el; }
        let next = null, i = 0;
        for (; i < kids.length; i++) {
          kidUndo[i]();
          if (overflowing()) { next = kids[i]; break; }
        }
        for (let j = i + 1; j < kids.length; j++) undo.push(kidUndo[j]);
        if (!next) return el;
        el = next;
      }
    } finally {
      undo.reverse().forEach(u => u());
    }
  }
  if (overflowing()) {
    const undo = [];
    while (overflowing() && undo.length < 5) {
      const before = pageWidth();
      const el = findCause();
      if (el === document.body) break;
      const d = details(el);
      undo.push(hide(el));
      problems.push(`overflow caused by ${d} (with it hidden the page goes from ${before}px to ${pageWidth()}px wide)`);
    }
    undo.reverse().forEach(u => u());
  }
  if (offenders.length) {
    // Also name the outermost elements past the edge: with no cause found
    // above (e.g. content clipped by overflow:hidden) this is all we know.
    const offenderSet = new Set(offenders);
    const roots = offenders.filter(el => !offenderSet.has(el.parentElement));
    problems.push(`${offenders.length} elements extend past the ${vw}px viewport; outermost: ` +
      roots.slice(0, 3).map(el => details(el).slice(0, 200)).join(' | ') +
      (roots.length > 3 ? ` | ... ${roots.length - 3} more` : ''));
  }

  // --- 2. titles, headings and links are visible -------------------------
  // "N more articles in the full digest" is a bold link too, but no title.
  const TITLE = 'a.fd-link:not(#more-online), span.fd-text';
  const titleParas = [...document.querySelectorAll('.fd-card p')].filter(p =>
    /font-weight:\s*bold/.test(p.getAttribute('style') || '') && p.querySelector(TITLE));
  const titles = titleParas.map(p => p.querySelector(TITLE));
  const headings = [...document.querySelectorAll('h1, h2')];
  const links = [...document.querySelectorAll('a.fd-link')].filter(a => !titles.includes(a));
  function checkVisible(el, kind) {
    const what = `${kind} ${describe(el)}`;
    const cs = getComputedStyle(el);
    if (!rendered(el) || !el.checkVisibility({visibilityProperty: true, opacityProperty: true, contentVisibilityAuto: true})) {
      let why = [];
      for (let e = el; e; e = e.parentElement) {
        const s = getComputedStyle(e);
        if (s.display === 'none') why.push(`${describe(e).slice(0, 50)} has display:none`);
      }
      if (cs.visibility !== 'visible') why.push(`visibility:${cs.visibility}`);
      if (parseFloat(cs.opacity) === 0) why.push('opacity:0');
      problems.push(`${what} is not visible${why.length ? ' (' + why.join('; ') + ')' : ''}`);
      return;
    }
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) {
      problems.push(`${what} has an empty box (${px(r.width)}x${px(r.height)}px)`);
      return;
    }
    if (r.left < -SLACK || r.right > vw + SLACK)
      problems.push(`${what} sticks out of the ${vw}px viewport (${px(r.left)}..${px(r.right)}px)`);
    const fg = rgba(cs.color);
    const bg = backgroundOf(el);
    const ratio = contrast(fg, bg.color);
    if (fg[3] < 0.5 || ratio < MIN_CONTRAST)
      problems.push(`${what}: colour ${hex(fg)} on background ${hex(bg.color)}` +
        (bg.from ? ` (of ${describe(bg.from).slice(0, 50)})` : ' (canvas)') +
        ` has contrast ${ratio.toFixed(2)}:1, below ${MIN_CONTRAST}:1`);
  }
  titles.forEach(el => checkVisible(el, 'title'));
  headings.forEach(el => checkVisible(el, 'heading'));
  links.forEach(el => checkVisible(el, 'link'));
  if (titles.length === 0) problems.push('no article titles found (expected <p style="...font-weight:bold;"><a class="fd-link"> inside .fd-card)');

  return {
    problems,
    titles: titles.length,
    titleTexts: titles.map(t => t.textContent.trim()),
    headings: headings.length,
    links: links.length,
    images: images.length,
    innerWidth: vw,
    scrollWidth: de.scrollWidth,
    darkMatches,
    bodyBackground: hex(bodyBg),
    bodyLuminance: bodyLum,
    pageHeight: Math.ceil(Math.max(de.scrollHeight, document.body.scrollHeight)),
  };
})()
"""


def placeholder_png(width=160, height=120):
    """A grey PNG with a darker 4px frame, made with zlib alone."""
    fill, frame = b"\x9a\xa4\xae", b"\x5a\x63\x6e"
    rows = []
    for y in range(height):
        row = bytearray(b"\0")  # filter: none
        for x in range(width):
            edge = x < 4 or y < 4 or x >= width - 4 or y >= height - 4
            row += frame if edge else fill
        rows.append(bytes(row))

    def chunk(kind, data):
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


PLACEHOLDER_PNG_B64 = base64.b64encode(placeholder_png()).decode()


class BrowserError(Exception):
    pass


class Chromium:
    """One headless Chromium process, spoken to over --remote-debugging-pipe."""

    def __init__(self, binary, deadline):
        self.deadline = deadline
        self.profile = tempfile.mkdtemp(prefix="fd-browser-profile-")
        self.stderr = tempfile.TemporaryFile()
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def wire_fds():
            # Chromium reads commands on fd 3 and writes replies on fd 4.
            # (Pipes come in ascending order and 0-2 are taken, so
            # from_browser_w > to_browser_r >= 3: the first dup2 can't
            # clobber the second's source.)
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        cmd = ["timeout", "-k", "5", str(RUN_TIMEOUT), binary, *CHROMIUM_FLAGS,
               f"--user-data-dir={self.profile}", "about:blank"]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr,
            preexec_fn=wire_fds, close_fds=True, pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.on_event = None  # called for every event as it arrives

    def notify(self, method, params, session=None):
        """Sends a command without waiting for its reply (which is dropped)."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self.to_browser, data):]
        except BrokenPipeError:
            raise BrowserError(self._gone()) from None

    def _read_message(self):
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer within {RUN_TIMEOUT}s")
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(self._gone())
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        msg = json.loads(raw)
        if "method" in msg and self.on_event:
            self.on_event(msg)
        return msg

    def send(self, method, params=None, session=None):
        self.notify(method, params or {}, session)
        want = self.next_id
        while True:
            reply = self._read_message()
            if reply.get("id") == want:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method, session):
        while True:
            for i, ev in enumerate(self.events):
                if ev["method"] == method and ev.get("sessionId") == session:
                    return self.events.pop(i)
            msg = self._read_message()
            if "method" in msg:  # else a reply to a notify(): dropped
                self.events.append(msg)

    def _gone(self):
        """Why the pipe closed: Chromium's exit status, once it has one."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "Chromium closed the DevTools pipe but is still running"
        if code == 124 or code == 137:
            return f"Chromium did not finish within {RUN_TIMEOUT}s (stopped by timeout)"
        return f"Chromium exited (status {code}) before answering on the DevTools pipe"

    def stderr_tail(self, lines=8):
        self.stderr.seek(0)
        text = self.stderr.read().decode("utf-8", "replace")
        # Debian's build logs harmless D-Bus complaints: leave them out.
        keep = [l for l in text.splitlines() if l.strip() and "dbus" not in l.lower()]
        return "\n".join(keep[-lines:])

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    msg = json.dumps({"id": 0, "method": "Browser.close", "params": {}}).encode() + b"\0"
                    os.write(self.to_browser, msg)
                except OSError:
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.terminate()  # `timeout` passes it on to Chromium's process group
                    try:
                        self.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait()
        finally:
            for fd in (self.to_browser, self.from_browser):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)


def evaluate(browser, session, expression, await_promise=False):
    res = browser.send("Runtime.evaluate", {
        "expression": expression, "returnByValue": True, "awaitPromise": await_promise,
    }, session)
    if "exceptionDetails" in res:
        det = res["exceptionDetails"]
        msg = det.get("exception", {}).get("description") or det.get("text")
        raise BrowserError(f"check script failed: {msg}")
    return res["result"].get("value")


def render(binary, html, width, scheme, shot_path, served_from=None):
    """Loads `html` (a file, or a URL under `served_from`) at `width` in
    `scheme`; returns the in-page check result."""
    browser = Chromium(binary, time.monotonic() + RUN_TIMEOUT)
    try:
        target = next((t for t in browser.send("Target.getTargets")["targetInfos"] if t["type"] == "page"), None)
        if target is None:
            target_id = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        else:
            target_id = target["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target_id, "flatten": True})["sessionId"]
        browser.send("Page.enable", session=session)

        def viewport(height):
            browser.send("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False,
            }, session)

        # Thumbnails point at remote hosts, unreachable here (and made so on
        # every machine by --host-resolver-rules): answer every remote image
        # with a placeholder so the layout is checked with images in place,
        # as a recipient sees it.
        def on_event(ev):
            if ev["method"] == "Fetch.requestPaused" and ev.get("sessionId") == session:
                rid = ev["params"]["requestId"]
                if served_from and ev["params"]["request"]["url"].startswith(served_from):
                    browser.notify("Fetch.continueRequest", {"requestId": rid}, session)
                elif ev["params"].get("resourceType") == "Image":
                    browser.notify("Fetch.fulfillRequest", {
                        "requestId": rid, "responseCode": 200,
                        "responseHeaders": [{"name": "Content-Type", "value": "image/png"}],
                        "body": PLACEHOLDER_PNG_B64,
                    }, session)
                else:
                    browser.notify("Fetch.failRequest", {"requestId": rid, "errorReason": "NameNotResolved"}, session)
        browser.on_event = on_event
        browser.send("Fetch.enable", {"patterns": [{"urlPattern": "http*", "requestStage": "Request"}]}, session)

        viewport(LOAD_HEIGHT)
        browser.send("Emulation.setEmulatedMedia", {
            "media": "screen",
            "features": [{"name": "prefers-color-scheme", "value": scheme}],
        }, session)
        url = html if isinstance(html, str) else html.resolve().as_uri()
        browser.send("Page.navigate", {"url": url}, session)
        browser.wait_event("Page.loadEventFired", session)
        evaluate(browser, session, "document.fonts.ready.then(() => true)", await_promise=True)

        # Grow the viewport to the whole page, so the checks see the same
        # layout as the screenshot and no scrollbar takes any width.
        height = evaluate(browser, session,
                          "Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight))")
        viewport(max(1, min(int(height), MAX_SHOT_HEIGHT)))
        evaluate(browser, session,
                 "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))",
                 await_promise=True)

        script = CHECK_JS.replace("__SCHEME__", json.dumps(scheme)).replace("__WIDTH__", str(width))
        result = evaluate(browser, session, script)
        shot = browser.send("Page.captureScreenshot", {"format": "png"}, session)
        shot_path.parent.mkdir(parents=True, exist_ok=True)
        shot_path.write_bytes(base64.b64decode(shot["data"]))
        return result
    except BrowserError as e:
        tail = browser.stderr_tail()
        if tail:
            tail = "".join(f"\n    | {line}" for line in tail.splitlines())
        raise BrowserError(f"{e}{tail}") from None
    finally:
        browser.close()


def short_name(path, seen):
    m = re.match(r"^\d{8}T\d{6}Z-(.+)-[0-9a-f]+$", path.stem)
    name = m.group(1) if m else path.stem
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "digest"
    base, n = name, 2
    while name in seen:
        name = f"{base}-{n}"
        n += 1
    seen.add(name)
    return name


def warn_missing_fonts(files):
    """Screenshots of CJK digests show boxes without a CJK font: say so."""
    langs = set()
    for f in files:
        try:
            head = f.read_text("utf-8", "replace")[:2000]
        except OSError:
            continue
        m = re.search(r'<html[^>]*\blang="(zh|ja|ko)', head, re.I)
        if m:
            langs.add(m.group(1).lower())
    if not langs or not shutil.which("fc-list"):
        return
    for lang in sorted(langs):
        out = subprocess.run(["fc-list", f":lang={lang}", "family"], capture_output=True, text=True).stdout
        if not out.strip():
            print(f"browser: warning: no font for lang={lang} is installed, so its text shows as boxes "
                  "in the screenshots (apt-get install fonts-noto-cjk)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"))
    ap.add_argument("--screenshots", default="target/screenshots", type=Path)
    ap.add_argument("html", nargs="+", type=Path)
    args = ap.parse_args()

    warn_missing_fonts(args.html)
    passed = failed = 0
    broken = 0  # Chromium failures in a row; after 2, don't wait on it again
    seen = set()
    for html in args.html:
        name = short_name(html, seen)
        if not html.is_file():
            for width in WIDTHS:
                for scheme in SCHEMES:
                    print(f"browser: {name} {width} {scheme}: FAILED: no such file {html}")
                    failed += 1
            continue
        for width in WIDTHS:
            for scheme in SCHEMES:
                label = f"browser: {name} {width} {scheme}"
                shot = args.screenshots / f"{name}-{width}-{scheme}.png"
                if broken >= 2:
                    print(f"{label}: FAILED: not run, Chromium failed twice in a row")
                    failed += 1
                    continue
                try:
                    res = render(args.chromium, html, width, scheme, shot)
                    broken = 0
                except Exception as e:  # the harness or Chromium broke, not the digest
                    what = str(e) if isinstance(e, BrowserError) else f"internal error: {e!r}"
                    print(f"{label}: FAILED: {what}")
                    failed += 1
                    broken += 1
                    continue
                if res["problems"]:
                    print(f"{label}: FAILED ({len(res['problems'])} problems; screenshot {shot})")
                    for p in res["problems"]:
                        print(f"    - {p}")
                    failed += 1
                else:
                    print(f"{label}: ok ({res['titles']} titles, {res['headings']} headings, "
                          f"{res['links']} other links, {res['images']} images; body {res['bodyBackground']})")
                    passed += 1
                sys.stdout.flush()
    print(f"browser check: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
