#!/usr/bin/env python3
"""Times the query page of Watchfire's web UI next to Prometheus 2.42's
classic UI, both servers running on the same data in the same run, in
headless Chromium driven over WebDriver:

- time to the graph drawn: from the start of the navigation (the
  document's `performance.timeOrigin`) to the frame after the chart's SVG
  first holds one line per series, for a 6 h range ending at
  2026-11-01 00:00 UTC at an 86 s step (252 points a line) over 10, 100
  and 1,000 series. Each case is run with the browser cache off (every
  load fetches the page, its CSS and JS) and on (repeat visits); WARMUP
  loads, then RUNS loads per server, the two servers taking turns; the
  median is reported with the ratio watchfire/prometheus;
- bytes of the first load: the HTML, CSS and JS of each query page,
  uncompressed (`decodedBodySize` of the navigation and of the script and
  stylesheet resources) and as transferred (`transferSize`), with the
  page's other non-API resources (images, fonts, templates) apart.

The script writes an OpenMetrics file of 1,000 gauges
`bench_series{i="0".."999"}` (a sample every 15 s over the 6 h), backfills
it into Prometheus with `promtool tsdb create-blocks-from openmetrics` and
into Watchfire with `watchfire import`, starts both servers, chromedriver
and Chromium, and removes all of it (processes and temporary directory)
on exit, on an error or SIGTERM too.

    bench/web/run.py --watchfire target/release/watchfire [--runs 5] [--out results.json]

How "drawn" is seen: a script installed before any of the page's own
(`Page.addScriptToEvaluateOnNewDocument` through chromedriver) watches the
document with a MutationObserver. Watchfire's page is drawn when
`body.dataset.ready` is '1' and the page holds N `svg path[data-series]`;
Prometheus's (rickshaw) when its chart's `svg` holds N `path.path`s (the
line of each series; rickshaw adds an empty `path.stroke` for each, not
counted) and its legend N `li.line`s (built in the same task). The time taken
is that of the first task after the next animation frame, so the frame
holding the chart has been produced; the check itself adds no polling
delay. Every load is checked: N lines of 252 points each, and a
query_range request for the same start, end and step on both servers.

Prometheus's classic UI lives at /classic/graph (its /graph redirects
there and drops the query string). The step is given to both UIs (86 in
Prometheus's "Res. (s)" field, which takes whole seconds, and 86s in
Watchfire's), since left to themselves they take range/250 differently
(86 s floored in Prometheus, 86.4 s in Watchfire).

Last, the server-side renderer: `GET /api/v1/render` of 100 series x 360
points (6 h at 60 s) as a 600x300 PNG, timed over loopback (query, layout,
rasterising and PNG encoding; RENDER_RUNS after 3 warm-up, median and
90th percentile). Prometheus has no such endpoint: the figure stands
alone, next to `cargo bench -p render` (drawing only).

Needs Debian's `prometheus`, `promtool`, `chromium` and `chromium-driver`.
Everything listens on 127.0.0.1; Chromium runs with no proxy.
"""
import argparse
import calendar
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

END = calendar.timegm((2026, 11, 1, 0, 0, 0))
RANGE = 6 * 3600
STEP = 86  # whole seconds, as Prometheus's classic UI takes it; 252 points
POINTS = RANGE // STEP + 1
SERIES = 1000
SCRAPE = 15
# 10, 100 and 1,000 of the 1,000 series, by a regex on `i`.
SELECTORS = {
    10: 'bench_series{i=~"[0-9]"}',
    100: 'bench_series{i=~"[0-9]{1,2}"}',
    1000: 'bench_series',
}
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-proxy-server", "--window-size=1280,800"]

# Direct connections only, whatever the environment's proxy settings.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_openmetrics(path):
    """1,000 gauges, a sample every 15 s from 5 minutes before the range
    (so its first step has a sample in the lookback) to its end."""
    first = END - RANGE - 300
    with open(path, "w") as f:
        f.write("# HELP bench_series Synthetic series for the web UI benchmark.\n# TYPE bench_series gauge\n")
        for i in range(SERIES):
            lines = [f'bench_series{{i="{i}"}} {i + 5 * math.sin(t / 900 + i):.3f} {t}\n'
                     for t in range(first, END + 1, SCRAPE)]
            f.writelines(lines)
        f.write("# EOF\n")


class Procs:
    """The processes this script started, each in its own process group,
    and the marker (the temporary directory) that their children's
    command lines carry."""

    def __init__(self, marker):
        self.marker = marker
        self.procs = []

    def start(self, name, cmd, log):
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append((name, p))
        return p

    def stop(self, p, grace=10):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()

    def stop_all(self):
        for _, p in reversed(self.procs):
            self.stop(p)
        # Chromium's helpers, should any have left the group: they name our
        # profile directory, below the temporary directory.
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if self.marker.encode() in cmd:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_ready(name, port, proc, limit=300):
    for _ in range(limit * 5):
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode} before it was ready")
        try:
            http.open(f"http://127.0.0.1:{port}/-/ready", timeout=2).read()
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{name} on {port} not ready after {limit} s")


def settle(name, proc, limit=120):
    """Waits until the server has used under 2% of a CPU for two seconds
    (Prometheus compacts the backfilled blocks after it starts)."""
    hz = os.sysconf("SC_CLK_TCK")
    quiet = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        a = cpu_ticks(proc.pid)
        time.sleep(1)
        quiet = quiet + 1 if (cpu_ticks(proc.pid) - a) / hz < 0.02 else 0
        if quiet >= 2:
            return
    print(f"{name}: still busy after {limit} s; measuring anyway", flush=True)


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None, timeout=180):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with http.open(req, timeout=timeout) as r:
                return json.load(r).get("value")
        except urllib.error.HTTPError as e:
            try:
                v = json.load(e).get("value", {})
                msg = f"{v.get('error')}: {v.get('message', '')[:500]}"
            except Exception:
                msg = str(e)
            raise RuntimeError(f"WebDriver {method} {path}: {msg}") from None

    def wait(self, proc):
        for _ in range(150):
            if proc.poll() is not None:
                raise SystemExit(f"chromedriver exited with {proc.returncode}")
            try:
                if self.call("GET", "/status", timeout=2).get("ready"):
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise SystemExit("chromedriver not ready")

    def open(self, profile):
        caps = {"browserName": "chrome", "pageLoadStrategy": "normal",
                "timeouts": {"script": 120_000, "pageLoad": 120_000},
                "goog:chromeOptions": {"binary": "/usr/bin/chromium",
                                       "args": CHROME_ARGS + [f"--user-data-dir={profile}"]}}
        v = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = v["sessionId"]
        self.s("POST", "/window/rect", {"width": 1280, "height": 800})

    def close(self):
        if self.session:
            try:
                self.s("DELETE", "", timeout=20)
            except Exception:
                pass
            self.session = None

    def s(self, method, path, body=None, timeout=180):
        return self.call(method, f"/session/{self.session}{path}", body, timeout)

    def cdp(self, cmd, params=None):
        return self.s("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params or {}})

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def run_async(self, script, *args):
        return self.s("POST", "/execute/async", {"script": script, "args": list(args)})


# Installed before the page's own scripts: notes when the chart holds N
# lines (`dom`) and the first task after the next frame (`frame`).
WATCH = r"""
(() => {
  if (location.protocol !== 'http:') return;
  const N = %(n)d, KIND = %(kind)s;
  const B = window.__bench = { dom: null, raf: null, frame: null };
  function drawn() {
    if (KIND === 'watchfire') {
      return !!document.body && document.body.dataset.ready === '1'
        && document.querySelectorAll('svg path[data-series]').length === N;
    }
    return document.querySelectorAll('.graph_area .graph > svg > path.path').length === N
      && document.querySelectorAll('.legend li.line').length === N;
  }
  const obs = new MutationObserver(() => {
    if (B.dom !== null || !drawn()) return;
    B.dom = performance.now();
    obs.disconnect();
    requestAnimationFrame(() => {
      B.raf = performance.now();
      const ch = new MessageChannel();
      ch.port1.onmessage = () => { B.frame = performance.now(); };
      ch.port2.postMessage(0);
    });
  });
  obs.observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-ready'] });
})();
"""

# Waits (in the page) for the mark above, then reports it with what was
# drawn and what was loaded.
REPORT = r"""
const [kind, limitMs] = arguments, done = arguments[arguments.length - 1];
const t0 = performance.now();
function finish() {
  const B = window.__bench || {};
  const paths = kind === 'watchfire'
    ? document.querySelectorAll('svg path[data-series]')
    : document.querySelectorAll('.graph_area .graph > svg > path.path');
  const legend = kind === 'watchfire'
    ? document.querySelectorAll('.chart + .legend > div').length
    : document.querySelectorAll('.legend li.line').length;
  const vertices = Array.from(paths).slice(0, 50).map(p => ((p.getAttribute('d') || '').match(/[ML]/g) || []).length);
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource').map(e => ({
    name: e.name, type: e.initiatorType, decoded: e.decodedBodySize, transfer: e.transferSize,
    start: e.startTime, end: e.responseEnd }));
  const err = document.querySelector('.error, .alert-danger:not([style*="none"])');
  done({ installed: !!window.__bench, dom: B.dom, raf: B.raf, frame: B.frame,
         paths: paths.length, legend, vertices,
         nav: { name: nav.name, decoded: nav.decodedBodySize, transfer: nav.transferSize,
                responseEnd: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd },
         resources: res, error: err && err.textContent.trim() ? err.textContent.trim().slice(0, 300) : null });
}
(function poll() {
  const B = window.__bench;
  if ((B && B.frame !== null) || performance.now() - t0 > limitMs) finish();
  else setTimeout(poll, 20);
})();
"""


class Server:
    def __init__(self, name, port):
        self.name = name
        self.port = port

    def url(self, expr):
        if self.name == "watchfire":
            path, end, step = "/query", "2026-11-01 00:00:00", f"{STEP}s"
        else:
            path, end, step = "/classic/graph", "2026-11-01 00:00", str(STEP)
        q = urllib.parse.urlencode({"g0.expr": expr, "g0.tab": "0", "g0.range_input": "6h",
                                    "g0.end_input": end, "g0.step_input": step}, quote_via=urllib.parse.quote)
        return f"http://127.0.0.1:{self.port}{path}?{q}"


def kind_of(entry):
    """html, css, js, api or other, for a performance entry's URL."""
    path = urllib.parse.urlparse(entry["name"]).path
    if "/api/" in path:
        return "api"
    if path.endswith(".js"):
        return "js"
    if path.endswith(".css"):
        return "css"
    return "other"


def load(wd, server, n, limit_s):
    """One navigation, from about:blank; returns the page's report."""
    wd.go("about:blank")
    sid = wd.cdp("Page.addScriptToEvaluateOnNewDocument",
                 {"source": WATCH % {"n": n, "kind": json.dumps(server.name)}})["identifier"]
    try:
        wd.go(server.url(SELECTORS[n]))
        r = wd.run_async(REPORT, server.name, limit_s * 1000)
    finally:
        wd.cdp("Page.removeScriptToEvaluateOnNewDocument", {"identifier": sid})
    where = f"{server.name}, {n} series"
    if not r["installed"]:
        raise SystemExit(f"{where}: the watching script did not run in the page")
    if r["frame"] is None:
        raise SystemExit(f"{where}: no graph of {n} lines after {limit_s} s "
                         f"(paths {r['paths']}, legend {r['legend']}, error {r['error']!r})")
    if r["paths"] != n or r["legend"] != n:
        raise SystemExit(f"{where}: {r['paths']} paths and {r['legend']} legend entries, not {n}")
    if any(v != POINTS for v in r["vertices"]):
        raise SystemExit(f"{where}: lines of {sorted(set(r['vertices']))} points, not {POINTS}")
    qr = [e for e in r["resources"] if "/api/v1/query_range" in e["name"]]
    if len(qr) != 1:
        raise SystemExit(f"{where}: {len(qr)} query_range requests, not 1")
    q = urllib.parse.parse_qs(urllib.parse.urlparse(qr[0]["name"]).query)
    got = (float(q["start"][0]), float(q["end"][0]), float(q["step"][0]), q["query"][0])
    if got != (END - RANGE, END, STEP, SELECTORS[n]):
        raise SystemExit(f"{where}: asked for start, end, step, query {got}")
    r["api_end"] = qr[0]["end"]
    return r


def page_bytes(r):
    out = {"html": r["nav"]["decoded"], "css": 0, "js": 0, "other": 0,
           "transfer_html_css_js": r["nav"]["transfer"], "transfer_other": 0}
    for e in r["resources"]:
        k = kind_of(e)
        if k == "api":
            continue
        out[k] += e["decoded"]
        out["transfer_other" if k == "other" else "transfer_html_css_js"] += e["transfer"]
    out["html_css_js"] = out["html"] + out["css"] + out["js"]
    return out


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--watchfire", default="target/release/watchfire")
    ap.add_argument("--runs", type=int, default=5, help="measured loads per server and case")
    ap.add_argument("--warmup", type=int, default=1, help="loads per server and case before measuring")
    ap.add_argument("--series", default="10,100,1000", help="cases, of 10, 100 and 1000")
    ap.add_argument("--cache", choices=["off", "on", "both"], default="both",
                    help="browser cache: off (every load fetches everything), on, or both")
    ap.add_argument("--timeout", type=int, default=60, help="seconds a graph may take")
    ap.add_argument("--render-runs", type=int, default=20, help="timed /api/v1/render PNGs")
    ap.add_argument("--out", help="write the results here as JSON")
    a = ap.parse_args()
    cases = [int(x) for x in a.series.split(",")]
    for n in cases:
        if n not in SELECTORS:
            raise SystemExit(f"--series takes 10, 100 and 1000, not {n}")
    modes = {"off": ["off"], "on": ["on"], "both": ["off", "on"]}[a.cache]
    watchfire = os.path.abspath(a.watchfire)

    # SIGTERM and SIGHUP unwind like Ctrl-C, through the cleanup below.
    def bail(sig, _):
        raise SystemExit(f"stopped by signal {sig}")
    signal.signal(signal.SIGTERM, bail)
    signal.signal(signal.SIGHUP, bail)

    load_start = os.getloadavg()
    work = tempfile.mkdtemp(prefix="web-bench-")
    procs = Procs(work)
    wd = None
    try:
        om = os.path.join(work, "series.om")
        t = time.monotonic()
        write_openmetrics(om)
        print(f"data: {SERIES} series x {(RANGE + 300) // SCRAPE + 1} samples, "
              f"{os.path.getsize(om) / 1e6:.0f} MB of OpenMetrics ({time.monotonic() - t:.0f} s)", flush=True)
        cfg = os.path.join(work, "empty.yml")
        with open(cfg, "w") as f:
            f.write("scrape_configs: []\n")
        log = open(os.path.join(work, "processes.log"), "w")
        prom_data, wf_data = os.path.join(work, "prom-data"), os.path.join(work, "wf-data")
        t = time.monotonic()
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", om, prom_data],
                       check=True, stdout=log, stderr=subprocess.STDOUT)
        print(f"promtool backfill: {time.monotonic() - t:.0f} s", flush=True)
        t = time.monotonic()
        subprocess.run([watchfire, "import", om, "--storage.tsdb.path", wf_data],
                       check=True, stdout=log, stderr=subprocess.STDOUT)
        print(f"watchfire import: {time.monotonic() - t:.0f} s", flush=True)
        os.remove(om)

        servers = [Server("watchfire", free_port()), Server("prometheus", free_port())]
        wf_proc = procs.start("watchfire", [watchfire, "--config.file", cfg, "--storage.tsdb.path", wf_data,
                                            "--storage.tsdb.retention.time", "100y",
                                            "--web.listen-address", f"127.0.0.1:{servers[0].port}"], log)
        prom_proc = procs.start("prometheus", ["prometheus", f"--config.file={cfg}",
                                               f"--storage.tsdb.path={prom_data}",
                                               "--storage.tsdb.retention.time=100y",
                                               f"--web.listen-address=127.0.0.1:{servers[1].port}"], log)
        for s, p in zip(servers, [wf_proc, prom_proc]):
            wait_ready(s.name, s.port, p)
        # Both answer the same: N series of POINTS points.
        for n in cases:
            for s in servers:
                q = urllib.parse.urlencode({"query": SELECTORS[n], "start": END - RANGE, "end": END, "step": STEP})
                with http.open(f"http://127.0.0.1:{s.port}/api/v1/query_range?{q}", timeout=120) as r:
                    res = json.load(r)["data"]["result"]
                pts = {len(x["values"]) for x in res}
                if len(res) != n or pts != {POINTS}:
                    raise SystemExit(f"{s.name}: {SELECTORS[n]} gave {len(res)} series of {sorted(pts)} points")
        for s, p in zip(servers, [wf_proc, prom_proc]):
            settle(s.name, p)

        # The renderer: 100 series x 360 points as a 600x300 PNG.
        q = urllib.parse.urlencode({"query": SELECTORS[100], "start": END - RANGE + 60, "end": END,
                                    "step": 60, "width": 600, "height": 300, "format": "png",
                                    "threshold": 50, "title": "bench_series"})
        render_ms, png_bytes = [], 0
        for i in range(3 + a.render_runs):
            t = time.perf_counter()
            with http.open(f"http://127.0.0.1:{servers[0].port}/api/v1/render?{q}", timeout=60) as r:
                body = r.read()
                kind = r.headers.get("Content-Type")
            ms = (time.perf_counter() - t) * 1000
            if kind != "image/png" or not body.startswith(b"\x89PNG"):
                raise SystemExit(f"/api/v1/render gave {kind}, {len(body)} bytes")
            png_bytes = len(body)
            if i >= 3:
                render_ms.append(ms)
        render_ms.sort()
        render = {"runs_ms": render_ms, "median_ms": med(render_ms),
                  "p90_ms": render_ms[min(len(render_ms) - 1, int(len(render_ms) * 0.9))], "png_bytes": png_bytes}
        print(f"render 600x300 PNG, 100 series x 360 points: median {render['median_ms']:.1f} ms, "
              f"p90 {render['p90_ms']:.1f} ms, {png_bytes} bytes", flush=True)

        dport = free_port()
        dproc = procs.start("chromedriver", ["chromedriver", f"--port={dport}",
                                             f"--log-path={os.path.join(work, 'chromedriver.log')}"], log)
        wd = WebDriver(dport)
        wd.wait(dproc)
        wd.open(os.path.join(work, "profile"))

        results = {"end": END, "range_s": RANGE, "step_s": STEP, "points": POINTS, "runs": a.runs,
                   "warmup": a.warmup, "cases": [], "first_load": {}, "render_png_600x300_100x360": render}
        for mode in modes:
            wd.cdp("Network.enable")
            wd.cdp("Network.setCacheDisabled", {"cacheDisabled": mode == "off"})
            for n in cases:
                times = {s.name: [] for s in servers}
                api = {s.name: [] for s in servers}
                dom = {s.name: [] for s in servers}
                transfer = {s.name: [] for s in servers}
                for i in range(a.warmup + a.runs):
                    # The servers take turns, the first changing every load.
                    for s in (servers if i % 2 == 0 else servers[::-1]):
                        r = load(wd, s, n, a.timeout)
                        if s.name not in results["first_load"]:
                            # The first load of each page in a fresh profile.
                            results["first_load"][s.name] = page_bytes(r)
                        if i < a.warmup:
                            continue
                        times[s.name].append(r["frame"])
                        api[s.name].append(r["api_end"])
                        dom[s.name].append(r["dom"])
                        transfer[s.name].append(page_bytes(r)["transfer_html_css_js"])
                case = {"series": n, "cache": mode}
                for s in servers:
                    case[s.name] = {"drawn_ms": times[s.name], "median_ms": med(times[s.name]),
                                    "dom_median_ms": med(dom[s.name]), "api_done_median_ms": med(api[s.name]),
                                    "page_transfer_median_bytes": med(transfer[s.name])}
                case["ratio"] = case["watchfire"]["median_ms"] / case["prometheus"]["median_ms"]
                results["cases"].append(case)
                print(f"{n:>5} series, cache {mode:>3}: watchfire {case['watchfire']['median_ms']:7.1f} ms, "
                      f"prometheus {case['prometheus']['median_ms']:7.1f} ms, ratio {case['ratio']:.2f}", flush=True)
        wd.close()
    except BaseException:
        # What the servers and chromedriver said, before it is removed.
        try:
            with open(os.path.join(work, "processes.log"), errors="replace") as f:
                tail = f.readlines()[-20:]
            if tail:
                print("last lines of the processes' log:\n" + "".join(tail), file=sys.stderr)
        except OSError:
            pass
        raise
    finally:
        if wd is not None:
            wd.close()
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)

    load_end = os.getloadavg()
    results["loadavg_start"], results["loadavg_end"] = load_start, load_end
    print()
    print(f"load average (1, 5, 15 min) on {os.cpu_count()} CPUs: at start {load_start[0]:.2f} {load_start[1]:.2f} "
          f"{load_start[2]:.2f}, at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    print(f"Time from navigation to the graph drawn (ms, median of {a.runs} after {a.warmup} warm-up; "
          f"6 h range, {STEP} s step, {POINTS} points a line)")
    print(f"{'':>12} | {'watchfire':^25} | {'prometheus':^25} |")
    print(f"{'series':>6} {'cache':>5} | {'api':>7} {'dom':>7} {'drawn':>9} | {'api':>7} {'dom':>7} {'drawn':>9} | {'wf/prom':>7}")
    for c in results["cases"]:
        w, p = c["watchfire"], c["prometheus"]
        print(f"{c['series']:>6} {c['cache']:>5} | {w['api_done_median_ms']:7.1f} {w['dom_median_ms']:7.1f} {w['median_ms']:9.1f} | "
              f"{p['api_done_median_ms']:7.1f} {p['dom_median_ms']:7.1f} {p['median_ms']:9.1f} | {c['ratio']:7.2f}")
    print("(api: query_range response received; dom: N lines in the page; drawn: the next frame produced;"
          " wf/prom: ratio of drawn)")
    print()
    print("First load of the query page (bytes; HTML+CSS+JS uncompressed, and as transferred)")
    print(f"{'server':>10} | {'html':>7} {'css':>7} {'js':>8} {'total':>8} | {'transfer':>8} | {'other':>7}")
    fl = results["first_load"]
    for name in ("watchfire", "prometheus"):
        b = fl[name]
        print(f"{name:>10} | {b['html']:7d} {b['css']:7d} {b['js']:8d} {b['html_css_js']:8d} | "
              f"{b['transfer_html_css_js']:8d} | {b['other']:7d}")
    ratio = fl["watchfire"]["html_css_js"] / fl["prometheus"]["html_css_js"]
    print(f"ratio watchfire/prometheus, HTML+CSS+JS uncompressed: {ratio:.3f}")
    print("(other: the page's non-API resources besides HTML, CSS and JS: images, fonts, templates)")
    if any(c["cache"] == "on" for c in results["cases"]):
        print("Page bytes transferred on a repeat load, cache on (median): " + ", ".join(
            f"{name} {statistics.median([c[name]['page_transfer_median_bytes'] for c in results['cases'] if c['cache'] == 'on']):.0f}"
            for name in ("watchfire", "prometheus")))
    results["first_load"]["ratio_html_css_js"] = ratio
    r = results["render_png_600x300_100x360"]
    print()
    print(f"/api/v1/render, 600x300 PNG of 100 series x 360 points, over loopback: median {r['median_ms']:.1f} ms, "
          f"90th percentile {r['p90_ms']:.1f} ms ({len(r['runs_ms'])} runs), {r['png_bytes']} bytes")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
