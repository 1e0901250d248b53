"""The live what-if page's latency after an edit (issue 17): preview and full size, over HTTP, on hifi.

Run by hand from the repository root (about a minute; the machine should be otherwise idle):

    python benchmarks/bench_serve.py [--edits 20] [--agents 10000 --reps 5 --preview-agents 2000]
                                     [--screenshot docs/img/serve.png]

Starts ``cjmsim serve scenarios/hifi.toml`` on a free port (the page's defaults unless given), waits for
its start-up simulations, then sends ``--edits`` edits of the cjm plan one after another, each a new
budget of one campaign (never a budget seen before, so nothing comes from the server's cache), as the
page does on the release of a slider, and reads the streamed answer: the wall-clock time from sending
the edit to the preview's numbers and to the full size's. Prints the median and the worst of each and
the load average before and after. ``--screenshot`` also saves the page after one slider move, in
Debian's chromium driven by playwright (the screenshot of docs/serve.md).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _edit(port: int, body: dict[str, object]) -> tuple[float, float]:
    """Seconds from sending the edit to the preview's line and to the full size's."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    conn.request("POST", "/api/simulate", json.dumps(body), {"content-type": "application/json"})
    res = conn.getresponse()
    assert res.status == 200, res.read()
    preview = full = float("nan")
    for line in res:
        stage = json.loads(line)["stage"]
        if stage == "preview":
            preview = time.perf_counter() - t0
        elif stage == "full":
            full = time.perf_counter() - t0
        else:
            raise RuntimeError(f"unexpected answer: {line!r}")
    conn.close()
    return preview, full


def _screenshot(url: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        page.goto(url, wait_until="networkidle")
        page.wait_for_selector("#status[data-state=done]")
        slider = page.locator("input[type=range]").nth(5)  # cjm: context for beginners' questions
        slider.fill(str(float(slider.get_attribute("max") or 0) * 0.8))
        slider.dispatch_event("change")
        page.wait_for_selector("#status[data-state=updating]")
        page.wait_for_selector("#status[data-state=done]")
        page.screenshot(path=str(path), full_page=False)
        b.close()


def main() -> None:
    """Print the preview and full-size latencies after an edit, median and worst."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--agents", type=int)
    ap.add_argument("--reps", type=int)
    ap.add_argument("--preview-agents", type=int)
    ap.add_argument("--screenshot", type=Path, help="also save the page after a slider move as this PNG")
    args = ap.parse_args()
    extra = [
        f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k in ("agents", "reps", "preview_agents") and v
    ]
    code = "from cjmsim.cli import main; main()"
    cmd = [sys.executable, "-c", code, "serve", str(ROOT / "scenarios" / "hifi.toml"), "--port", "0", *extra]
    print(f"load average before {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        print(line.strip())
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        port = int(found.group(1))
        base = {"plan": "cjm", "reference": "baseline", "client": "bench"}
        _edit(port, {**base, "budgets": {}})  # waits for the start-up simulations (warm-up, reference, plan)
        previews, fulls = [], []
        for i in range(args.edits):
            p, f = _edit(port, {**base, "budgets": {str(1 + i % 31): 1_000.0 * (i + 1) + 1.0}})
            previews.append(p)
            fulls.append(f)
        print(
            f"{args.edits} edits: preview shown after {statistics.median(previews):.3f} s median "
            f"({max(previews):.3f} s worst), full size after {statistics.median(fulls):.3f} s median "
            f"({max(fulls):.3f} s worst)"
        )
        if args.screenshot is not None:
            _screenshot(found.group(0), args.screenshot)
            print(f"screenshot: {args.screenshot}")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    print(f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
