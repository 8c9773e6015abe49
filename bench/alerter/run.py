#!/usr/bin/env python3
"""Times the built-in alerter next to Alertmanager, one server after the
other on the same machine:

- throughput: alerts accepted per second on POST /api/v2/alerts (batches
  of BATCH alerts with distinct labels, CLIENTS concurrent senders, for
  SECONDS seconds);
- latency: from posting one new alert to its notification arriving at a
  local webhook, with group_by [alertname] and group_wait 0s (N alerts,
  one after another; p50 and p99).

    run.py --watchfire target/release/watchfire --out results.json

`prometheus-alertmanager` comes from Debian's package. Everything listens
on 127.0.0.1.
"""
import argparse
import http.client
import http.server
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

HOOK_PORT = 29296
arrived = {}
arrived_lock = threading.Lock()


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        now = time.monotonic()
        try:
            for a in json.loads(body)["alerts"]:
                name = a["labels"].get("alertname", "")
                with arrived_lock:
                    arrived.setdefault(name, now)
        except Exception:
            pass
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def wait_ready(port, proc):
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server on {port} exited")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"server on {port} not ready")


def post(conn, alerts):
    body = json.dumps(alerts)
    conn.request("POST", "/api/v2/alerts", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit(f"POST gave {r.status}")


def throughput(port, seconds, clients, batch, tag):
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def sender(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        while time.monotonic() < stop:
            alerts = [{"labels": {"alertname": f"{tag}-load", "instance": f"c{i}-{n}-{k}", "job": "bench"},
                       "annotations": {"summary": "load"}} for k in range(batch)]
            post(conn, alerts)
            n += 1
            counts[i] += batch

    ts = [threading.Thread(target=sender, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


def latency(port, n, tag):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    for i in range(n):
        name = f"{tag}-lat-{i}"
        t0 = time.monotonic()
        post(conn, [{"labels": {"alertname": name, "job": "bench"}}])
        while True:
            with arrived_lock:
                t1 = arrived.get(name)
            if t1 is not None:
                out.append((t1 - t0) * 1000)
                break
            if time.monotonic() - t0 > 10:
                out.append(10_000.0)
                break
            time.sleep(0.0005)
    out.sort()
    return {"p50_ms": statistics.median(out), "p99_ms": out[int(len(out) * 0.99) - 1], "n": n}


def measure(label, cmd, port, a, work):
    log = open(os.path.join(work, f"{label}.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    try:
        wait_ready(port, proc)
        lat = latency(port, a.latency_alerts, label)
        tput = throughput(port, a.seconds, a.clients, a.batch, label)
        res = {"label": label, "alerts_per_s": tput, **lat}
        print(f"{label}: {tput:,.0f} alerts/s accepted; latency p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms", flush=True)
        return res
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--watchfire", required=True)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--latency-alerts", type=int, default=200)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", HOOK_PORT), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp(prefix="alerter-bench-")
    cfg = os.path.join(work, "am.yml")
    with open(cfg, "w") as f:
        f.write("route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1m\n  repeat_interval: 4h\n"
                f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{HOOK_PORT}/\n        send_resolved: false\n")
    am = measure("alertmanager", ["prometheus-alertmanager", f"--config.file={cfg}", "--web.listen-address=127.0.0.1:29293",
                                  "--cluster.listen-address=", f"--storage.path={work}/am-data"], 29293, a, work)
    time.sleep(2)
    wf = measure("watchfire", [a.watchfire, "--alertmanager.config.file", cfg, "--web.listen-address", "127.0.0.1:29294",
                               "--storage.tsdb.path", f"{work}/wf-data"], 29294, a, work)
    res = {"alertmanager": am, "watchfire": wf,
           "ratio_alerts_per_s": wf["alerts_per_s"] / am["alerts_per_s"],
           "ratio_p50": wf["p50_ms"] / am["p50_ms"], "ratio_p99": wf["p99_ms"] / am["p99_ms"]}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"ratios watchfire/alertmanager: throughput {res['ratio_alerts_per_s']:.2f}, p50 {res['ratio_p50']:.2f}, p99 {res['ratio_p99']:.2f}")


if __name__ == "__main__":
    main()
