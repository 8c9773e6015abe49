#!/usr/bin/env python3
"""Times one evaluation cycle of a rule file in Watchfire and in Prometheus,
one server after the other on the same machine, each over its own copy of
the query benchmark's dataset.

A cycle's time is the sum over groups of `*_rule_group_last_duration_seconds`
read from the server's own /metrics. After a warm-up of WARMUP cycles the
script samples SAMPLES cycles, one per interval, and reports the median,
with the server's peak resident memory.

    run.py --watchfire target/release/watchfire --wf-data WF_DATA \
           --prom-data PROM_DATA --rules rules.yml --out results.json

Servers listen on 127.0.0.1 only. `prometheus` comes from Debian's package.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import urllib.request


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def series(text, name):
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            m = re.match(r'[^{ ]+(\{[^}]*\})?\s+(\S+)', line)
            out[m.group(1) or ""] = float(m.group(2))
    return out


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_ready(port, proc, limit=900):
    for _ in range(limit):
        if proc.poll() is not None:
            raise SystemExit(f"server on {port} exited: {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2)
            return
        except Exception:
            time.sleep(1)
    raise SystemExit(f"server on {port} not ready")


def measure(label, cmd, port, prefix, interval, warmup, samples, log):
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    peak = 0
    try:
        wait_ready(port, proc)
        iters = f"{prefix}_rule_group_iterations_total"
        dur = f"{prefix}_rule_group_last_duration_seconds"
        # Warm up: every group has run `warmup` times.
        while True:
            peak = max(peak, rss_kib(proc.pid))
            it = series(metrics(port), iters)
            if it and min(it.values()) >= warmup:
                break
            time.sleep(1)
        cycles = []
        last = None
        while len(cycles) < samples:
            peak = max(peak, rss_kib(proc.pid))
            text = metrics(port)
            it = series(text, iters)
            mark = min(it.values())
            if mark != last:
                d = series(text, dur)
                cycles.append(sum(d.values()))
                last = mark
                print(f"{label}: cycle {len(cycles)}: {cycles[-1]:.3f} s over {len(d)} groups", flush=True)
            time.sleep(interval / 4)
        # The same work on both sides: alerts by state after the last cycle.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=30) as r:
            alerts = json.load(r)["data"]["alerts"]
        states = {}
        for al in alerts:
            states[al["state"]] = states.get(al["state"], 0) + 1
        print(f"{label}: alerts by state {states}", flush=True)
        return {"label": label, "cycles_s": cycles, "median_s": statistics.median(cycles), "peak_rss_kib": peak,
                "alerts": states}
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--watchfire", required=True)
    ap.add_argument("--wf-data", required=True)
    ap.add_argument("--prom-data", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--interval", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="rules-bench-")
    cfg = os.path.join(work, "prom.yml")
    with open(cfg, "w") as f:
        f.write(f"global:\n  evaluation_interval: {a.interval}s\nrule_files:\n  - {os.path.abspath(a.rules)}\nscrape_configs: []\n")
    log = open(os.path.join(work, "servers.log"), "w")
    prom = measure("prometheus", ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={a.prom_data}",
                                  "--storage.tsdb.retention.time=100y", "--web.listen-address=127.0.0.1:29094"],
                   29094, "prometheus", a.interval, a.warmup, a.samples, log)
    time.sleep(3)
    wf = measure("watchfire", [a.watchfire, "--config.file", cfg, "--storage.tsdb.path", a.wf_data,
                               "--storage.tsdb.retention.time", "100y", "--web.listen-address", "127.0.0.1:29195"],
                 # Watchfire exports the rule group metrics under
                 # Prometheus's names.
                 29195, "prometheus", a.interval, a.warmup, a.samples, log)
    ratio = wf["median_s"] / prom["median_s"]
    res = {"rules": os.path.abspath(a.rules), "interval_s": a.interval, "prometheus": prom, "watchfire": wf,
           "ratio_median_cycle": ratio}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"cycle median: watchfire {wf['median_s']:.3f} s, prometheus {prom['median_s']:.3f} s, ratio {ratio:.2f}")
    print(f"peak RSS: watchfire {wf['peak_rss_kib'] // 1024} MiB, prometheus {prom['peak_rss_kib'] // 1024} MiB")


if __name__ == "__main__":
    main()
