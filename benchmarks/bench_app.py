"""Graph view at 1,000,000 nodes / ~10,000,000 edges, measured in headless chromium.

Serves the dashboard with ``roma serve`` on a 10^6-node hyperbolic graph (ROMA_APP_GRAPH),
loads it in Debian chromium (Playwright) and measures, in the browser:

* first image: from ``page.goto`` until both the node and the edge images are on the page;
* re-render per zoom step (mouse-wheel zoom towards the dense rim of the disk): from the
  wheel event until the last image update has been painted (the page is then quiet for 1 s);

and, in this process, a bare Datashader aggregation of all nodes (``Canvas.points``) and all
edges (``Canvas.line``) for the same viewports at the same 680x680 size, best of 3 after a
warm-up. Ratio = bare aggregation / app re-render (target >= 7, i.e. <= 1 s per re-render).
The app's image computation per view (the server's share of a re-render) is timed in this
process too, against the same bare aggregation.
Also the server's resident memory with the default data and with the 10^6-node graph.

``--sessions 8,16`` measures load instead (and nothing else): for each count, a fresh server
of the shipped default (no ROMA_APP_GRAPH, its default job workers) and that many browser
sessions opened at once (one chromium, a context each). Per session, the time from
``page.goto`` until the Graph view's plot is drawn (the browser tests' criterion: > 1 % of
the plot canvas's pixels clearly coloured, max - min channel > 60); then each session starts
the Simulate view's default run and waits for it to finish. Meanwhile a thread GETs a small
static file of the server (Panel's ``loading.css``, served by the same event loop) every 0.5 s
and samples the resident memory of the server and its children and the niceness of its
threads. After each count, the page updates the server logged as holding its event loop
(:mod:`app.turns`, ≥ 0.25 s) are tabulated per kind, wall and CPU time. ``--browser-nice N`` runs
chromium at niceness N: the browsers then stand for users' machines instead of taking the
server's cores from it.

    .venv/bin/python -m benchmarks.bench_app [--nodes 1000000] [--mean-degree 20] [--zooms 5]
        [--out DIR] [--montage docs/img/zoom_levels.png] [--skip-default] [--sessions 8,16]
        [--browser-nice 10] [--serve-args "--num-procs 2"]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from app.turns import SLOW
from benchmarks._util import ROOT, machine_load

SIZE = 680  # the plot's frame, in pixels
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# installs listeners on the plot's image sources: each update is stamped when it arrives and
# again on the next animation frame (painted)
HOOK_JS = """() => {
  const doc = Bokeh.documents[0];
  const plot = [...doc.all_models].filter(m => m.x_range && m.renderers && m.toolbar)[0];
  window.__plot = plot; window.__ev = [];
  for (const r of plot.renderers) {
    const s = r.data_source;
    if (!s || !s.data || !('image' in s.data)) continue;
    s.change.connect(() => { const t = performance.now();
      requestAnimationFrame(() => window.__ev.push([t, performance.now(), r.glyph.type])); });
  }
  return true;
}"""
READY_JS = """() => {
  if (!window.Bokeh || !Bokeh.documents.length) return false;
  const doc = Bokeh.documents[0];
  const plots = [...doc.all_models].filter(m => m.x_range && m.renderers && m.toolbar);
  if (!plots.length) return false;
  const kinds = new Set();
  for (const r of plots[0].renderers) {
    const s = r.data_source;
    if (s && s.data && s.data.image && s.data.image.length) {
      const im = s.data.image[0];
      if ((im.length || 0) >= 100 * 100 || (im.shape && im.shape[0] * im.shape[1] >= 10000)) kinds.add(r.glyph.type);
    }
  }
  // the app sends one RGBA image (nodes and edges shaded on the server); earlier versions sent
  // a float node image and an RGBA edge image: wait for every kind of full-size image present
  const want = plots[0].renderers.filter(r => r.glyph && (r.glyph.type === 'Image' || r.glyph.type === 'ImageRGBA'))
    .filter(r => { const im = r.data_source.data.image; return !(im && im.length && (im[0].length || 0) > 0 && (im[0].length || 0) < 100); })
    .map(r => r.glyph.type);
  if (!want.every(k => kinds.has(k)) || !kinds.size) return false;
  window.__kinds = [...kinds];
  return true;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env_extra: dict, log: Path, serve_args: tuple = ()):
    port = free_port()
    env = dict(os.environ, **env_extra)
    t0 = time.perf_counter()
    workspace = log.parent / f"workspace_{port}"  # never the user's own data folder
    proc = subprocess.Popen([sys.executable, "-m", "roma_core.cli", "serve", "--port", str(port),
                             "--workspace", str(workspace), *serve_args], cwd=ROOT,
                            env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/main"
    while True:  # the server answers once `--warm` has run main.py: data loaded and prepared
        if proc.poll() is not None:
            raise SystemExit(f"server exited; log:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    return proc, url, time.perf_counter() - t0


def stop_server(proc) -> None:
    """Stop the server and every process it forked (``--num-procs``): its whole session."""
    for sig in (signal.SIGTERM, signal.SIGKILL):   # SIGKILL: what outlived the parent or its 30 s
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


def rss_mib(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def first_image(page, url: str) -> float:
    t0 = time.perf_counter()
    page.goto(url, timeout=600_000)
    page.wait_for_function(READY_JS, timeout=600_000, polling=50)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(true)))")
    return time.perf_counter() - t0


TEXT_JS = ("e => Array.from((e.shadowRoot || e).children).filter(c => c.tagName !== 'STYLE' && "
           "c.tagName !== 'LINK').map(c => c.innerText).join(' ')")


def text_of(page, css: str) -> str:
    return page.locator(css).first.evaluate(TEXT_JS)


def zoom_step(page, x: float, y: float, delta: float, quiet_s: float = 1.0, timeout_s: float = 120.0) -> dict:
    """One wheel zoom at (x, y); seconds until the last image update was painted."""
    page.evaluate("() => { window.__ev = []; }")
    want = page.evaluate("() => window.__kinds")  # the full-size images each zoom updates
    t0 = page.evaluate("() => performance.now()")
    page.mouse.move(x, y)
    page.mouse.wheel(0, delta)
    start, last_n, last_change = time.perf_counter(), 0, time.perf_counter()
    while True:
        ev = page.evaluate("() => window.__ev")
        kinds = {e[2] for e in ev}
        if len(ev) != last_n:
            last_n, last_change = len(ev), time.perf_counter()
        if set(want) <= kinds and time.perf_counter() - last_change >= quiet_s:
            break
        if time.perf_counter() - start > timeout_s:
            raise RuntimeError(f"no complete re-render within {timeout_s} s (events: {ev})")
        time.sleep(0.05)
    first_complete = max(min(e[1] for e in ev if e[2] == k) for k in want) - t0
    xr = page.evaluate("() => [window.__plot.x_range.start, window.__plot.x_range.end, "
                       "window.__plot.y_range.start, window.__plot.y_range.end]")
    return {"rerender_s": (max(e[1] for e in ev) - t0) / 1000, "first_complete_s": first_complete / 1000,
            "updates": len(ev), "x_range": xr[:2], "y_range": xr[2:]}


def bare_aggregation(graph, views, repeat: int = 3) -> list[float]:
    """Best-of-``repeat`` seconds of a Datashader aggregation of all nodes + all edges per view."""
    import datashader as ds
    import numpy as np
    import pandas as pd

    from app.render import layout

    x, y, _ = layout(graph, "native")
    nodes = pd.DataFrame({"x": x, "y": y, "v": graph.degree.astype(np.float32)})
    src, dst, _ = graph.edges()
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    edges = pd.DataFrame({"x0": x32[src], "y0": y32[src], "x1": x32[dst], "y1": y32[dst]})
    del src, dst

    def once(xr, yr, n=SIZE, e=edges):
        c = ds.Canvas(plot_width=n, plot_height=n, x_range=tuple(xr), y_range=tuple(yr))
        c.points(nodes, "x", "y", agg=ds.max("v"))
        c.line(e, x=["x0", "x1"], y=["y0", "y1"], axis=1, agg=ds.count())

    once((-1, 1), (-1, 1), 32, edges.iloc[:1000])  # compile
    out = []
    for xr, yr in views:
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            once(xr, yr)
            best = min(best, time.perf_counter() - t)
        out.append(best)
    return out


def app_image_compute(graph, views, repeat: int = 3) -> list[float]:
    """Best-of-``repeat`` seconds the Graph view's image takes to compute per view, in this
    process (the server's share of a re-render: node aggregation, edges at their level of
    detail, shading), without HoloViews' plotting, Bokeh and the browser."""
    import holoviews as hv

    from app import render

    data = render.prepare(graph)
    nodes = data.nodes[["x", "y"]].assign(value=data.nodes["degree"])
    colour = dict(cmap=render.colormap("viridis"), clim=(1.0, float(nodes["value"].max())), cnorm="log")
    draw = render.graph_layer(lambda: data, lambda: nodes, colour, [hv.streams.RangeXY(), hv.streams.PlotSize()],
                              px=1).callback.callable
    draw(x_range=(-1, 1), y_range=(-1, 1), width=32, height=32)  # compile
    out = []
    for xr, yr in views:
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            draw(x_range=tuple(xr), y_range=tuple(yr), width=SIZE, height=SIZE)
            best = min(best, time.perf_counter() - t)
        out.append(best)
    render.clear_cache()
    return out


def montage(paths: list[Path], labels: list[str], out: Path) -> None:
    from PIL import Image, ImageDraw

    ims = [Image.open(p).convert("RGB") for p in paths]
    w, h = max(i.width for i in ims), max(i.height for i in ims)
    scale = 0.5
    tw, th = int(w * scale), int(h * scale)
    sheet = Image.new("RGB", (tw * len(ims), th + 22), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (im, label) in enumerate(zip(ims, labels)):
        sheet.paste(im.resize((int(im.width * scale), int(im.height * scale))), (k * tw, 22))
        draw.text((k * tw + 6, 4), label, fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)


# --sessions: many browser sessions at once ------------------------------------------------
PROBE_PATH = "/static/extensions/panel/css/loading.css"  # a small static file, served by the app's event loop
# whether the Graph view's plot is drawn: > 1 % of its canvas's pixels (every 7th sampled) clearly
# coloured, as tests/app/test_graph_view.py asks of its screenshots; canvases live in shadow roots
PAINTED_JS = """() => {
  const find = (root, pred, out) => { for (const e of root.querySelectorAll('*')) {
    if (pred(e)) out.push(e); if (e.shadowRoot) find(e.shadowRoot, pred, out); } return out; };
  const plot = find(document, e => e.classList.contains('roma-graph-plot'), [])[0];
  if (!plot) return false;
  const canvases = find(plot, e => e.tagName === 'CANVAS', plot.shadowRoot ? find(plot.shadowRoot, e => e.tagName === 'CANVAS', []) : []);
  for (const c of canvases) {
    if (c.width * c.height < 10000) continue;
    const ctx = c.getContext('2d');
    if (!ctx) continue;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let hit = 0, n = 0;
    for (let i = 0; i < d.length; i += 28, n++)
      if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) hit++;
    if (hit > 0.01 * n) return true;
  }
  return false;
}"""


def tree_rss_mib(proc) -> float:
    """Resident memory of a psutil process and all its children, in MiB."""
    import psutil

    total = 0
    for p in [proc] + proc.children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


class Probe(threading.Thread):
    """GETs ``url`` every ``every`` seconds and samples the server's memory; ``samples`` holds
    ``(time, seconds to answer or None on failure, RSS MiB)``."""

    def __init__(self, url: str, pid: int, every: float = 0.5):
        import psutil

        super().__init__(daemon=True)
        self.url, self.proc, self.every = url, psutil.Process(pid), every
        self.samples: list[tuple] = []
        self.niceness: dict[int, int] = {}  # niceness -> threads, the sample with most threads above 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as r:
                    r.read()
                took = time.perf_counter() - t
            except OSError:
                took = None
            self.samples.append((t, took, tree_rss_mib(self.proc)))
            nice = thread_niceness(self.proc.pid)
            if sum(c for k, c in nice.items() if k > 0) >= sum(c for k, c in self.niceness.items() if k > 0):
                self.niceness = nice
            self.done.wait(max(0.0, self.every - (time.perf_counter() - t)))

    def latency(self, t0: float, t1: float) -> dict:
        """Median and max answer time of the requests sent in [t0, t1), and how many failed."""
        took = [s[1] for s in self.samples if t0 <= s[0] < t1]
        ok = sorted(x for x in took if x is not None)
        return {"requests": len(took), "failed": len(took) - len(ok),
                "median_s": ok[len(ok) // 2] if ok else None, "max_s": ok[-1] if ok else None}


async def open_sessions(n: int, url: str, chromium: str, jobs: bool, timeout_s: float) -> dict:
    """Open ``n`` pages of ``url`` at once; seconds to each one's first plot, then (``jobs``)
    each session's default simulation from start to done."""
    from playwright.async_api import async_playwright

    ms = timeout_s * 1000

    async def first_plot(page):
        t = time.perf_counter()
        try:
            await page.goto(url, timeout=ms)
            await page.wait_for_function(PAINTED_JS, polling=250, timeout=ms)
            return time.perf_counter() - t
        except Exception as exc:  # one session's failure is a result, not the end of the run
            print(f"session without a plot: {exc}".splitlines()[0], flush=True)
            return None

    async def simulate(page):
        try:
            # a page starved of CPU (16 chromium pages on the server's cores) may take longer
            # than Playwright's default 30 s to answer: that is the browser's, not the server's
            await page.locator(".bk-tab", has_text="Simulate").first.click(timeout=ms)
            await page.wait_for_selector(".roma-sim-plot canvas", timeout=ms)
            await page.get_by_role("button", name="Run").click(timeout=ms)
            t = time.perf_counter()
            while time.perf_counter() - t < timeout_s:
                text = await page.locator(".roma-sim-job").first.evaluate(TEXT_JS, timeout=ms)
                if "done" in text or "⚠" in text:
                    if "done" not in text:
                        print(f"session's job ended without a result: {text.strip()}", flush=True)
                    return time.perf_counter() - t if "done" in text else None
                await asyncio.sleep(1.0)
        except Exception as exc:
            print(f"session without a job: {exc}".splitlines()[0], flush=True)
        return None

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
        pages = [await (await browser.new_context(viewport={"width": 1400, "height": 950})).new_page()
                 for _ in range(n)]
        t_load = time.perf_counter()
        first = await asyncio.gather(*(first_plot(p) for p in pages))
        t_jobs = time.perf_counter()
        job_s = await asyncio.gather(*(simulate(p) for p in pages if jobs))
        t_end = time.perf_counter()
        await browser.close()
    return {"first_plot_s": first, "job_s": job_s, "t_load": t_load, "t_jobs": t_jobs, "t_end": t_end}


def py_spy(pid: int, out: Path) -> subprocess.Popen:
    """``py-spy record`` of the server's threads (raw stacks, thread names first) into ``out``
    until interrupted; only the main thread's samples matter: there the event loop runs."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        raise SystemExit("--py-spy needs py-spy (pip install py-spy)")
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--threads", "--format", "raw", "--rate", "50",
                             "--nonblocking", "--output", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)


def main_thread_profile(raw: Path, top: int = 25) -> str:
    """The functions seen most often in the main thread's samples of a ``py-spy`` raw file
    (inclusive: a function counts once per sample it is on the stack), as text."""
    from collections import Counter

    inclusive, total = Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "MainThread" not in frames[0]:
            continue
        total += int(count)
        for f in set(frames[1:]):
            inclusive[f] += int(count)
    lines = [f"main thread: {total} samples at 50 Hz ({total / 50:.1f} s not idle)"]
    lines += [f"{n:6d} {100 * n / max(total, 1):5.1f} %  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def slow_updates(log: Path) -> dict:
    """The page updates the server logged as holding its event loop (``app.turns``), per
    kind: count, median, max and total seconds."""
    import re

    held: dict[str, list[tuple[float, float]]] = {}
    pattern = r"page update '(.+?)' held the event loop ([0-9.]+) s \(([0-9.]+) s of CPU\)"
    for m in re.finditer(pattern, log.read_text(errors="replace")):
        what = re.sub(r"^[^:]*(Simulating|Opening)[^:]*:", r"\1:", m.group(1))  # one kind per job label
        held.setdefault(what, []).append((float(m.group(2)), float(m.group(3))))

    def median(xs):
        return sorted(xs)[len(xs) // 2]
    return {k: {"count": len(v), "median_s": median([w for w, _ in v]), "max_s": max(w for w, _ in v),
                "total_s": sum(w for w, _ in v), "cpu_median_s": median([c for _, c in v]),
                "cpu_max_s": max(c for _, c in v)}
            for k, v in sorted(held.items(), key=lambda kv: -max(w for w, _ in kv[1]))}


def thread_niceness(pid: int) -> dict:
    """Niceness -> how many of the process's threads run at it (Linux ``/proc``)."""
    counts: dict[int, int] = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            nice = int(stat.read_text().rsplit(")", 1)[1].split()[16])
        except (OSError, IndexError, ValueError):
            continue
        counts[nice] = counts.get(nice, 0) + 1
    return counts


def niced(executable: str, nice: int, folder: Path) -> str:
    """A launcher in ``folder`` that runs ``executable`` (and so all its processes) at ``nice``."""
    launcher = folder / "chromium_niced"
    launcher.write_text(f'#!/bin/sh\nexec nice -n {nice} "{executable}" "$@"\n')
    launcher.chmod(0o755)
    return str(launcher)


def bench_sessions(counts: list[int], work: Path, chromium: str, jobs: bool = True, timeout_s: float = 900,
                   profile: Path | None = None, serve_args: tuple = ()) -> list:
    """For each count of sessions: a fresh default server (``roma serve`` with ``serve_args``),
    the sessions, the probe's numbers (and, with ``profile``, a py-spy record of the server
    into ``profile/sessions_N.txt``)."""
    rows = []
    for n in counts:
        log = work / f"serve_sessions_{n}.log"
        proc, url, start_s = start_server({}, log, serve_args)
        spy = py_spy(proc.pid, profile / f"sessions_{n}.txt") if profile else None
        probe = Probe(url.rsplit("/", 1)[0] + PROBE_PATH, proc.pid)
        try:
            with urllib.request.urlopen(probe.url, timeout=30) as r:
                assert r.status == 200, f"{probe.url}: HTTP {r.status}"
            probe.start()
            load = machine_load()
            r = asyncio.run(open_sessions(n, url, chromium, jobs, timeout_s))
        finally:
            probe.done.set()
            probe.join()
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            stop_server(proc)
        ok = sorted(x for x in r["first_plot_s"] if x is not None)
        done = [x for x in r["job_s"] if x is not None]
        row = {"sessions": n, "server_start_s": start_s, "load_before": load, "load_after": machine_load(),
               "first_plot_s": r["first_plot_s"], "plots": len(ok),
               "first_plot_median_s": ok[len(ok) // 2] if ok else None, "first_plot_max_s": ok[-1] if ok else None,
               "get_during_loads": probe.latency(r["t_load"], r["t_jobs"]),
               "get_during_jobs": probe.latency(r["t_jobs"], r["t_end"]) if jobs else None,
               "jobs_done": len(done), "jobs_s": r["job_s"], "all_jobs_s": r["t_end"] - r["t_jobs"],
               "server_peak_rss_mib": max(s[2] for s in probe.samples), "probe_url": probe.url,
               "thread_niceness_while_jobs_run": probe.niceness, "slow_updates": slow_updates(log)}
        rows.append(row)
        if spy is not None:
            print(main_thread_profile(profile / f"sessions_{n}.txt"), flush=True)
        print(json.dumps({k: v for k, v in row.items() if k not in ("first_plot_s", "jobs_s", "slow_updates")}),
              flush=True)
        print(f"\npage updates holding the event loop >= {SLOW} s ({n} sessions):\n"
              "| update | count | wall median / max (s) | CPU median / max (s) | wall total (s) |\n"
              "|---|---|---|---|---|")
        for what, h in row["slow_updates"].items():
            print(f"| {what} | {h['count']} | {h['median_s']:.2f} / {h['max_s']:.2f} | "
                  f"{h['cpu_median_s']:.2f} / {h['cpu_max_s']:.2f} | {h['total_s']:.1f} |")

    def f(x):
        return "-" if x is None else f"{x:.2f}"

    print("\n| sessions | first plot median / max (s) | GET while pages load median / max (s) | "
          "GET while jobs run median / max (s) | jobs done, all in (s) | server peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    for w in rows:
        a, b = w["get_during_loads"], w["get_during_jobs"] or {}
        print(f"| {w['sessions']} | {f(w['first_plot_median_s'])} / {f(w['first_plot_max_s'])} ({w['plots']} plots) | "
              f"{f(a['median_s'])} / {f(a['max_s'])} ({a['requests']} req, {a['failed']} failed) | "
              f"{f(b.get('median_s'))} / {f(b.get('max_s'))} ({b.get('requests', 0)} req, {b.get('failed', 0)} failed) | "
              f"{w['jobs_done']}/{w['sessions']}, {w['all_jobs_s']:.0f} | {w['server_peak_rss_mib']:.0f} |")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--mean-degree", type=float, default=20.0, help="20 gives ~10^7 edges at 10^6 nodes")
    ap.add_argument("--zooms", type=int, default=8, help="wheel-zoom steps (each 2x)")
    ap.add_argument("--out", type=Path, default=None, help="folder for screenshots and results.json")
    ap.add_argument("--montage", type=Path, default=None, help="write the zoom levels side by side here")
    ap.add_argument("--skip-default", action="store_true", help="skip the default-data memory measurement")
    ap.add_argument("--sessions", default=None, metavar="8,16",
                    help="measure only this many concurrent browser sessions on the default data (comma-separated)")
    ap.add_argument("--py-spy", type=Path, default=None, metavar="DIR",
                    help="with --sessions: record the server with py-spy into DIR/sessions_N.txt and print "
                         "where its main thread (the event loop) spent its time")
    ap.add_argument("--no-jobs", dest="jobs", action="store_false",
                    help="with --sessions: only load the pages, start no simulation")
    ap.add_argument("--browser-nice", type=int, default=0, metavar="N",
                    help="with --sessions: run chromium at this niceness (1-19), standing in for browsers on "
                         "the users' own machines rather than on the server's cores")
    ap.add_argument("--serve-args", default="", metavar="ARGS",
                    help='with --sessions: more options of `roma serve`, e.g. "--num-procs 2"')
    args = ap.parse_args(argv)
    if not 0 <= args.browser_nice <= 19:
        ap.error(f"--browser-nice takes 0-19, got {args.browser_nice}")
    from playwright.sync_api import sync_playwright

    from roma_core.graphs import hyperbolic_graph

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian chromium is not on PATH; `make test` installs it")
    work = Path(tempfile.mkdtemp(prefix="bench_app_"))
    out = args.out or work
    out.mkdir(parents=True, exist_ok=True)
    if args.sessions:
        try:
            counts = [int(c) for c in args.sessions.split(",")]
        except ValueError:
            raise SystemExit(f"--sessions takes counts like 8,16, got {args.sessions!r}")
        if args.py_spy:
            args.py_spy.mkdir(parents=True, exist_ok=True)
        if args.browser_nice:
            chromium = niced(chromium, args.browser_nice, work)
        rows = bench_sessions(counts, work, chromium, args.jobs, profile=args.py_spy,
                              serve_args=tuple(shlex.split(args.serve_args)))
        (out / "sessions.json").write_text(json.dumps(rows, indent=1))
        print(f"sessions.json in {out}")
        return 0
    res = {"load_before": machine_load()}
    print(res["load_before"], flush=True)

    t = time.perf_counter()
    g = hyperbolic_graph(args.nodes, mean_degree=args.mean_degree, seed=0)
    res["generate_s"] = time.perf_counter() - t
    path = work / "graph.npz"
    g.save(path)
    res.update(nodes=g.num_nodes, edges=g.num_edges)
    print(f"graph: {g.num_nodes:,} nodes, {g.num_edges:,} edges, generated in {res['generate_s']:.1f} s", flush=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        if not args.skip_default:
            proc, url, _ = start_server({}, work / "serve_default.log")
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 950})
                res["default_first_image_s"] = first_image(page, url)
                res["default_server_rss_mib"] = rss_mib(proc.pid)
                page.close()
            finally:
                stop_server(proc)
            print(f"default data: first image {res['default_first_image_s']:.2f} s, "
                  f"server RSS {res['default_server_rss_mib']:.0f} MiB", flush=True)

        proc, url, res["server_start_s"] = start_server({"ROMA_APP_GRAPH": str(path)}, work / "serve_1m.log")
        try:
            res["server_rss_idle_mib"] = rss_mib(proc.pid)
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            res["first_image_s"] = first_image(page, url)
            res["lod_0"] = text_of(page, ".roma-lod")
            page.evaluate(HOOK_JS)
            time.sleep(2.0)
            page.locator(".roma-graph-plot").first.screenshot(path=out / "zoom_0.png")
            res["server_rss_1m_mib"] = rss_mib(proc.pid)
            page2 = browser.new_page(viewport={"width": 1400, "height": 950})
            res["first_image_second_session_s"] = first_image(page2, url)
            page2.close()
            print(f"1M graph: server ready in {res['server_start_s']:.1f} s; first image {res['first_image_s']:.2f} s "
                  f"(second session {res['first_image_second_session_s']:.2f} s); server RSS "
                  f"{res['server_rss_1m_mib']:.0f} MiB", flush=True)

            box = page.locator(".roma-graph-plot").first.bounding_box()
            # frame: 680x680 below the toolbar (~40 px); aim at data (-0.93, 0.05), the dense rim
            fx, fy = box["x"] + 5, box["y"] + box["height"] - SIZE - 5
            px, py = fx + (-0.93 + 1.02) / 2.04 * SIZE, fy + (1.02 - 0.05) / 2.04 * SIZE
            steps = []
            for k in range(1, args.zooms + 1):
                step = zoom_step(page, px, py, -300)  # Bokeh's wheel zoom: 300/600 -> 2x
                step["lod"] = text_of(page, ".roma-lod")
                page.mouse.move(5, 5)  # no hover tooltip in the screenshot
                time.sleep(0.3)
                page.locator(".roma-graph-plot").first.screenshot(path=out / f"zoom_{k}.png")
                step["zoom"] = 2.04 / (step["x_range"][1] - step["x_range"][0])
                steps.append(step)
                print(f"zoom {step['zoom']:7.1f}x: re-render {step['rerender_s']:.3f} s (first complete "
                      f"{step['first_complete_s']:.3f} s, {step['updates']} updates) - {step['lod']}", flush=True)
            res["steps"] = steps
        finally:
            stop_server(proc)
        browser.close()

    views = [((-1.02, 1.02), (-1.02, 1.02))] + [(s["x_range"], s["y_range"]) for s in res["steps"]]
    bare = bare_aggregation(g, views)
    res["bare_s"] = bare
    compute = app_image_compute(g, views)
    res["app_image_compute_s"] = compute
    app_times = [None] + [s["rerender_s"] for s in res["steps"]]
    print("\n| view | zoom | app re-render (browser) | bare Datashader, all nodes + edges | ratio | "
          "app image, server compute | ratio bare / compute | edges drawn as |")
    print("|---|---|---|---|---|---|---|---|")
    for k, (b, a, c) in enumerate(zip(bare, app_times, compute)):
        zoom = 1.0 if k == 0 else res["steps"][k - 1]["zoom"]
        lod = res["lod_0"] if k == 0 else res["steps"][k - 1]["lod"]
        a_s = "first image" if a is None else f"{a:.3f} s"
        r = "" if a is None else f"{b / a:.1f}x"
        print(f"| {k} | {zoom:.1f}x | {a_s} | {b:.3f} s | {r} | {c:.3f} s | {b / c:.1f}x | {lod} |")
    reren = [s["rerender_s"] for s in res["steps"]]
    if reren:
        med = sorted(reren)[len(reren) // 2]
        ratio = sorted(bare[1:])[len(bare[1:]) // 2] / med
        comp = sorted(b / c for b, c in zip(bare[1:], compute[1:]))[len(bare[1:]) // 2]
        res.update(median_rerender_s=med, median_ratio=ratio, median_ratio_compute=comp)
        print(f"\nmedian re-render {med:.3f} s; median ratio bare/app {ratio:.1f}x (target >= 7x, <= 1 s); "
              f"median ratio bare / app image compute {comp:.1f}x")
    res["load_after"] = machine_load()
    print(res["load_after"])
    (out / "results.json").write_text(json.dumps(res, indent=1))
    if args.montage:
        labels = ["1x"] + [f"{s['zoom']:.0f}x: {s['lod'].replace('edges: ', '')}" for s in res["steps"]]
        montage([out / f"zoom_{k}.png" for k in range(len(labels))], labels, args.montage)
    print(f"screenshots and results.json in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
