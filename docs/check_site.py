"""Check that the documentation site renders right, in headless Chromium.

    python docs/check_site.py                 # build the site (mkdocs build --strict), check it
    python docs/check_site.py --site site/    # check a site already built

The site is served on 127.0.0.1 and every page loaded, one after another, into a
1280 px wide frame of one headless Chromium; once MathJax has typeset a page, a script
measures it. Checked:

* every formula renders: each display block (``div.arithmatex``) holds exactly one
  MathJax display, each inline one (``span.arithmatex``) one inline formula; no MathJax
  error; no raw ``$$``, ``\\[`` or ``\\(`` left in the text; pages that derive formulas
  show at least as many displays as they write (``DISPLAYS``);
* nothing is wider than the content column at 1280 px: an element that sticks out of it
  must sit inside a box of its own that scrolls (tables, code, long equations), and the
  page never scrolls sideways;
* every image of the site's own loads (the check runs offline: a badge from elsewhere
  is not fetched);
* the notebooks' pages carry their outputs' figures (an image in a cell's output);
* every package's reference page lists everything in its ``__all__``: a row of its
  exports table and, for each object that is not a module, the heading of its entry.

Prints one line per failure and exits 1, or prints what it checked and exits 0.
Chromium: ``chromium`` (Debian, ``apt-get install chromium``), ``chromium-browser`` or
``google-chrome`` on the PATH, or ``--chromium PATH``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 1280
#: Pages whose display formulas are counted: (page, at least this many displays).
DISPLAYS = {"skip-backprop/": 15, "theory/": 5}
#: The notebooks' pages, which must show their outputs' figures.
NOTEBOOKS = "examples/"
CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Runs in the driver page: loads each page into a WIDTH px frame, waits for MathJax,
# measures, and posts what it found back to the server.
DRIVER = r"""<!doctype html><meta charset="utf-8"><title>site check</title>
<iframe id="frame" style="width:%(width)dpx;height:900px;border:0"></iframe>
<script>
const PAGES = %(pages)s;
const frame = document.getElementById("frame");
const sleep = ms => new Promise(r => setTimeout(r, ms));

function load(url) {
  return new Promise(resolve => {
    const timer = setTimeout(() => resolve(false), 60000);
    frame.onload = () => { clearTimeout(timer); resolve(true); };
    frame.src = url;
  });
}

async function typeset(win) {
  // MathJax 2 runs its startup (the first typesetting) then its "End" hook.
  for (let i = 0; i < 600; i++) {
    const mj = win.MathJax;
    if (mj && mj.Hub && mj.Hub.Register) {
      await new Promise(r => mj.Hub.Register.StartupHook("End", r));
      await new Promise(r => mj.Hub.Queue(r));
      return true;
    }
    await sleep(50);
  }
  return false;
}

function describe(el) {
  let s = el.tagName.toLowerCase();
  if (el.id) s += "#" + el.id;
  if (el.classList.length) s += "." + [...el.classList].slice(0, 2).join(".");
  // cut by code points, not UTF-16 units (MathJax writes letters outside the BMP)
  const text = [...(el.textContent || "").replace(/\s+/g, " ").trim()].slice(0, 60).join("");
  return text ? s + ' "' + text + '"' : s;
}

function measure(win) {
  const doc = win.document, out = {};
  // the column: between the navigation and the table of contents (the article's own
  // margins are the column's padding: Material's tables and code blocks reach into them)
  const col = doc.querySelector(".md-content") || doc.body;
  const right = col.getBoundingClientRect().right + 1;
  const wide = [];
  // What sticks out of the column: a box wider than what holds it, or text (a long
  // unbreakable line) spilling out of its box. Fine inside a box that scrolls or clips.
  const spill = el => win.getComputedStyle(el).overflowX === "visible"
    ? el.getBoundingClientRect().left + el.scrollWidth : el.getBoundingClientRect().right;
  for (const el of col.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (!r.width) continue;
    let clipped = false;
    for (let a = el.parentElement; a && a !== col; a = a.parentElement)
      if (win.getComputedStyle(a).overflowX !== "visible") { clipped = true; break; }
    if (clipped) continue;
    const box = r.right > right && el.parentElement.getBoundingClientRect().right <= right;
    const text = r.right <= right && spill(el) > right
      && ![...el.children].some(c => Math.max(c.getBoundingClientRect().right, spill(c)) > right);
    if (box || text)
      wide.push(describe(el) + " reaches " + Math.round(Math.max(r.right, spill(el)))
                + " px, the column ends at " + Math.round(right - 1) + " px");
  }
  out.wide = wide;
  out.scrollWidth = doc.documentElement.scrollWidth;
  out.innerWidth = win.innerWidth;
  const displays = [...col.querySelectorAll("div.arithmatex")];
  out.displayBlocks = displays.length;
  out.displayBlocksBad = displays
    .filter(d => d.querySelectorAll(".MathJax_Display, mjx-container[display]").length !== 1)
    .map(d => describe(d));
  // a display that scrolls up and down (MathJax's boxes a pixel taller than the block)
  out.displayBlocksBad.push(...displays
    .filter(d => d.scrollHeight > d.clientHeight + 1
            && /auto|scroll/.test(win.getComputedStyle(d).overflowY))
    .map(d => describe(d) + " scrolls vertically"));
  // a display wider than the column scrolls in its own box: allowed, but worth a note
  out.displayScrolls = displays.filter(d => d.scrollWidth > d.clientWidth + 1)
    .map(d => describe(d) + ` (${d.scrollWidth} px in ${d.clientWidth} px)`);
  out.displays = col.querySelectorAll(".MathJax_Display, mjx-container[display]").length;
  out.inlineBad = [...col.querySelectorAll("span.arithmatex")]
    .filter(s => s.querySelectorAll(".MathJax, mjx-container").length !== 1)
    .map(s => describe(s));
  out.mathErrors = [...col.querySelectorAll(".MathJax_Error, merror, mjx-merror")]
    .map(e => describe(e));
  const raw = [], walker = doc.createTreeWalker(col, win.NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest("script, code, pre, style")) continue;
    if (/\$\$|\\\[|\\\]|\\\(|\\\)/.test(n.textContent)) raw.push(describe(n.parentElement));
  }
  out.raw = raw;
  const imgs = [...col.querySelectorAll("img")];
  out.images = imgs.length;
  out.outputImages = col.querySelectorAll(
    ".jp-OutputArea-output img, .output_area img, .jp-RenderedImage img").length;
  // the site's own images (one from elsewhere, a badge, is not reachable from here)
  out.broken = imgs.filter(i => new URL(i.src).origin === win.location.origin)
    .filter(i => !i.complete || !i.naturalWidth).map(i => i.getAttribute("src"));
  out.ids = [...col.querySelectorAll("[id]")].map(e => e.id);
  out.tableLinks = [...col.querySelectorAll("table a code")].map(c => c.textContent);
  return out;
}

(async () => {
  const results = {};
  for (const page of PAGES) {
    const entry = results[page] = {}, start = performance.now();
    if (!await load("/" + page)) { entry.error = "did not load in 60 s"; continue; }
    const win = frame.contentWindow;
    const math = win.document.querySelector(".arithmatex");
    if (math && !await typeset(win)) entry.error = "MathJax did not start";
    await win.document.fonts.ready;
    await sleep(50);
    try { Object.assign(entry, measure(win)); } catch (e) { entry.error = String(e); }
    entry.ms = Math.round(performance.now() - start);
  }
  await fetch("/__results__", {method: "POST", body: JSON.stringify(results)});
})();
</script>
"""


def build(site: Path) -> None:
    """``mkdocs build --strict`` into ``site``, as CI builds it."""
    env = {**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1",
           "DISABLE_MKDOCS_2_WARNING": "true"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                          str(site)], cwd=ROOT, env=env, capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"mkdocs build --strict failed:\n{run.stderr[-3000:]}")


def pages(site: Path) -> list[str]:
    """Every page of the site, as a path below its root ('' for the home page)."""
    found = []
    for html in sorted(site.rglob("index.html")):
        rel = html.parent.relative_to(site).as_posix()
        if rel.startswith(("assets", "search")):
            continue
        found.append("" if rel == "." else rel + "/")
    return found


def find_chromium(given: str | None) -> str | None:
    if given:
        return given
    return next((path for name in CHROMIUMS if (path := shutil.which(name))), None)


def measure(site: Path, chromium: str, timeout: float) -> dict:
    """Serve ``site``, drive Chromium over every page, return what the driver measured."""
    got: dict = {}
    done = threading.Event()
    driver = DRIVER % {"width": WIDTH, "pages": json.dumps(pages(site))}

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/__check__.html":
                body = driver.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                super().do_GET()

        def do_POST(self):
            if self.path == "/__results__":
                got.update(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()
                done.set()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/__check__.html"
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--mute-audio",
             f"--user-data-dir={profile}", f"--window-size={WIDTH + 40},1000",
             # the site must render offline: nothing outside this server is reachable
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "--remote-debugging-port=0", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            finished = done.wait(timeout)
        finally:
            browser.terminate()
            try:
                browser.wait(10)
            except subprocess.TimeoutExpired:
                browser.kill()
            server.shutdown()
        if not finished:
            err = browser.stderr.read().decode(errors="replace")[-1500:]
            sys.exit(f"Chromium reported nothing within {timeout:.0f} s\n{err}")
    return got


def reference_failures(results: dict) -> list[str]:
    """Every name a package exports is listed on its reference page."""
    sys.path.insert(0, str(ROOT / "docs"))
    import gen_pages

    failures = []
    for name in gen_pages.public_modules():
        if not gen_pages.is_package(name):
            continue
        page = gen_pages.reference_page(name).removesuffix(".md")  # reference/a/index
        page = page.removesuffix("index") if page.endswith("/index") else page + "/"
        found = results.get(page)
        if found is None or "ids" not in found:
            failures.append(f"{page}: the reference page of {name} is missing")
            continue
        module = importlib.import_module(name)
        ids, listed = set(found["ids"]), set(found["tableLinks"])
        for export in getattr(module, "__all__", ()):
            obj = getattr(module, export)
            if export not in listed:
                failures.append(f"{page}: {name}.{export} is not in the exports table")
            if inspect.ismodule(obj):
                continue
            defined = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            if f"{name}.{export}" not in ids and defined not in ids:
                failures.append(f"{page}: no entry for {name}.{export}")
    return failures


def failures(results: dict) -> list[str]:
    out = []
    for page, r in results.items():
        where = page or "(home)"
        if "error" in r:
            out.append(f"{where}: {r['error']}")
        if "wide" not in r:
            continue
        out += [f"{where}: wider than the column: {w}" for w in r["wide"][:5]]
        if r["scrollWidth"] > r["innerWidth"]:
            out.append(f"{where}: the page scrolls sideways ({r['scrollWidth']} px in a "
                       f"{r['innerWidth']} px window)")
        out += [f"{where}: display formula not typeset as one display: {b}"
                for b in r["displayBlocksBad"]]
        out += [f"{where}: inline formula not typeset: {b}" for b in r["inlineBad"]]
        out += [f"{where}: MathJax error: {e}" for e in r["mathErrors"]]
        out += [f"{where}: raw TeX delimiters left in the text: {t}" for t in r["raw"]]
        out += [f"{where}: image does not load: {b}" for b in r["broken"]]
        if page in DISPLAYS and r["displays"] < DISPLAYS[page]:
            out.append(f"{where}: {r['displays']} display formulas rendered, expected at "
                       f"least {DISPLAYS[page]}")
        if page.startswith(NOTEBOOKS) and not r["outputImages"]:
            out.append(f"{where}: no figure in the notebook's outputs (stored without "
                       "outputs?)")
    for page in DISPLAYS:
        if page not in results:
            out.append(f"{page}: page missing")
    if not any(p.startswith(NOTEBOOKS) for p in results):
        out.append(f"{NOTEBOOKS}: no notebook pages")
    return out + reference_failures(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, help="a built site (default: build one)")
    parser.add_argument("--chromium", help="the Chromium executable")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for all pages")
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        sys.exit("no Chromium found: apt-get install chromium, or pass --chromium")
    with tempfile.TemporaryDirectory() as tmp:
        site = args.site
        if site is None:
            site = Path(tmp) / "site"
            build(site)
        results = measure(site.resolve(), chromium, args.timeout)
    problems = failures(results)
    for line in problems:
        print(line)
    for page, r in results.items():
        for d in r.get("displayScrolls", ()):
            print(f"note: {page or '(home)'}: a display formula scrolls sideways: {d}")
    if problems:
        return 1
    n_display = sum(r.get("displays", 0) for r in results.values())
    n_images = sum(r.get("images", 0) for r in results.values())
    print(f"ok: {len(results)} pages at {WIDTH} px, {n_display} display formulas, "
          f"{n_images} images, every package's exports listed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
