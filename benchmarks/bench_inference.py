"""A forecast of every node of a 10^6-node graph (issue 31): how long the first window (with
its attention map) and the next one take with layer-wise whole-graph inference, against a
plain forward pass of one batch of every node measured in the same run, and against the
arithmetic floor: the forecast's matrix-product flops (counted by torch's FlopCounterMode)
at this machine's rate for products of the model's shapes, measured in the same run.

    .venv/bin/python -m benchmarks.bench_inference [--nodes 1000000] [--run assets/roma_kuramoto_2k] [--browser]

``--browser`` also times the Forecast tab of a real ``roma serve`` in chromium: from Load to
the first window's maps and to all of them, with the event-loop holds the server logged.

The trajectory (Kuramoto on an S1 graph, ⟨k⟩ = 10, 41 frames) is simulated once and kept
under ``$ROMA_BENCH_OUT`` (default /tmp/roma_bench_models); the run is the shipped ROMA by
default, so its graph is a new one to it. The measurement runs in a fresh process (its
peak memory is its own), with the torch threads of the machine (``--threads``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._util import isolated, machine_load

OUT = Path(os.environ.get("ROMA_BENCH_OUT", "/tmp/roma_bench_models"))
ROOT = Path(__file__).resolve().parents[1]


def trajectory(nodes: int) -> Path:
    """The benchmark's trajectory on ``nodes`` nodes, simulated once."""
    path = OUT / f"inference_kuramoto_{nodes}.zarr"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "roma_core.cli", "simulate", "kuramoto", "--nodes", str(nodes),
                        "--mean-degree", "10", "--t-end", "4", "--dt", "0.01", "--save-every", "10", "--out",
                        str(path)], check=True, cwd=ROOT, capture_output=True)
    return path


def matmul_rate(width: int, rows: int = 1 << 17, reps: int = 20) -> float:
    """Flops per second of ``(rows, width) @ (width, width)`` products plus a bias (the
    shape of the model's linear maps)."""
    import torch

    x, w, b = torch.randn(rows, width), torch.randn(width, width), torch.randn(width)
    torch.addmm(b, x, w)
    t = time.perf_counter()
    for _ in range(reps):
        torch.addmm(b, x, w)
    return 2 * rows * width * width * reps / (time.perf_counter() - t)


def measure(run: str, data: str, threads: int) -> dict:
    """Open the run on the trajectory, forecast two windows one by one, a plain pass, and
    the flop count of one window."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from roma_core.eval import forecast, load_run

    torch.set_num_threads(threads)
    out = {}
    t = time.perf_counter()
    model, ctx, _ = load_run(run, data)
    out["open_s"] = time.perf_counter() - t
    starts = ctx.windows.starts("all")[:2]
    for i, name in enumerate(("first_window_s", "second_window_s")):
        t = time.perf_counter()
        f = forecast(model, ctx, starts[i:i + 1])
        out[name] = time.perf_counter() - t
    out["attention_shape"] = list(f.attention.shape) if f.attention is not None else None
    with torch.inference_mode():
        t = time.perf_counter()
        model(ctx.batch(starts[:1]))
        out["plain_pass_s"] = time.perf_counter() - t
    counter = FlopCounterMode(display=False)
    with counter:
        forecast(model, ctx, starts[:1])
    out["matmul_flops"] = counter.get_total_flops()
    out["matmul_rate"] = matmul_rate(model.spec.hidden)
    out["floor_s"] = out["matmul_flops"] / out["matmul_rate"]
    out.update(nodes=ctx.windows.graph.num_nodes, edges=ctx.windows.graph.num_edges, threads=threads)
    return out


TEXT_JS = ("e => Array.from((e.shadowRoot || e).children)"
           ".filter(c => c.tagName !== 'STYLE' && c.tagName !== 'LINK').map(c => c.innerText).join('\\n')")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser(data: Path, work: Path, chromium: str = "/usr/bin/chromium") -> dict:
    """The Forecast tab as a user meets it: ``roma serve`` on a workspace holding the
    trajectory, the shipped run picked with it (every window: the trajectory is short), Load
    clicked in chromium; seconds to the first window's maps and to all windows, and the
    event-loop holds the server logged."""
    import re
    import shutil
    import socket
    import urllib.request

    from playwright.sync_api import sync_playwright

    ws = work / "workspace"
    ws.mkdir(parents=True, exist_ok=True)
    if not (ws / data.name).exists():
        shutil.copytree(data, ws / data.name)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = work / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "roma_core.cli", "serve", "--port", str(port), "--workspace",
                             str(ws)], stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT)
    url, out = f"http://127.0.0.1:{port}/main", {}

    def text_when(page, css, pattern, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            text = page.locator(css).first.evaluate(TEXT_JS)
            if re.search(pattern, text):
                return text
            time.sleep(0.2)
        raise TimeoutError(f"{css} never said {pattern!r}")

    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url, timeout=30)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = b.new_page(viewport={"width": 1400, "height": 950})
            page.goto(url, timeout=300_000)
            page.wait_for_selector(".bk-tab", timeout=300_000)
            page.locator(".bk-tab", has_text="Forecast").first.click()
            text_when(page, ".roma-forecast-status", r"2,000 nodes", 300)
            page.locator(".roma-pick-trajectory select:visible").first.select_option(label=data.name)
            page.locator("select:visible", has=page.locator("option", has_text="train")).first.select_option(
                label="all")
            time.sleep(2)
            t0 = time.monotonic()
            page.locator("button:visible", has_text="Load").first.click()
            nodes = r"1,000,000" if "1000000" in data.name else r"[\d,]+"
            text_when(page, ".roma-forecast-status", nodes + r" nodes.*being computed", 900)
            out["first_window_shown_s"] = time.monotonic() - t0
            text_when(page, ".roma-forecast-status", nodes + r" nodes(?!.*being computed)", 900)
            out["all_windows_shown_s"] = time.monotonic() - t0
            page.wait_for_selector(".roma-forecast-prediction canvas", timeout=300_000)
            time.sleep(5)
            page.screenshot(path=str(work / "forecast.png"))
            b.close()
    finally:
        proc.terminate()
        proc.wait(30)
    holds = [float(h) for h in re.findall(r"result shown' held the event loop ([\d.]+) s", log.read_text())]
    out["result_updates_held_loop_s"] = holds
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--run", default=str(ROOT / "roma_core" / "assets" / "roma_kuramoto_2k"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--browser", action="store_true", help="also time the Forecast tab in chromium")
    args = ap.parse_args(argv)
    data = trajectory(args.nodes)
    r = isolated("benchmarks.bench_inference:measure", args.run, str(data), args.threads, timeout=3600)
    res = {**r["result"], "peak_rss_gib": r["peak_rss_mib"] / 1024, "load": machine_load()}
    res["plain_over_first"] = res["plain_pass_s"] / res["first_window_s"]
    res["first_over_floor"] = res["first_window_s"] / res["floor_s"]
    if args.browser:
        res["browser"] = browser(data, OUT / f"inference_browser_{args.nodes}")
    print(json.dumps(res, indent=1))
    (OUT / f"inference_{args.nodes}.json").write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
