#!/usr/bin/env python3
"""Remote write benchmarks and the long outage run, against Prometheus 2.42
and VictoriaMetrics 1.79 from Debian's packages, on loopback.

The scrape targets are the shared ingest generator
(../shared/bench/ingest/gen, built with `cargo build --release
--manifest-path ../shared/bench/ingest/gen/Cargo.toml --target-dir DIR`;
give its binary with --gen): T targets x 1000 series.

  send      Watchfire and Prometheus scrape the same targets for --seconds,
            once without remote_write and once writing to VictoriaMetrics.
            The CPU the remote write adds, per million samples sent, and
            the bytes on the wire per sample sent (both from the sender's
            prometheus_remote_storage_{samples,bytes}_total).
  receive   One sender (Prometheus 2.42, the same for all) remote-writes the
            scrapes to Watchfire's, Prometheus's and VictoriaMetrics's
            receiver in turn; the receiver's CPU per million samples.
  outage    Watchfire and Prometheus scrape the same targets, each writing
            to its own VictoriaMetrics. Both VictoriaMetrics stop for
            --outage seconds (SIGTERM); each sender is SIGKILLed and
            restarted twice meanwhile. After VictoriaMetrics returns: the
            catch-up time (until the sender's highest sent timestamp is
            within 25 s of the wall clock) and, series by series, the
            samples the sender stored that VictoriaMetrics lacks.

Usage: python3 bench/remote/run.py send|receive|outage --watchfire BIN --gen BIN
           [--targets 20] [--seconds 120] [--outage 600] [--out results.jsonl]

Standard library only; every server listens on 127.0.0.1; stops what it
started and removes its temporary directory on exit.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

CLK = os.sysconf("SC_CLK_TCK")
PROCS = []


def log(*a):
    print("[remote-bench]", time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu(pid):
    """User+system CPU seconds of a process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / CLK
    except OSError:
        return 0.0


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_http(url, what, limit=60):
    end = time.time() + limit
    while time.time() < end:
        try:
            get(url, 2)
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not come up at {url}")


def start(cmd, log_path):
    p = subprocess.Popen(cmd, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    PROCS.append(p)
    return p


def stop(p, sig=signal.SIGTERM, wait=60):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def metric(url, name, labels=None):
    """Sum of a metric's samples on a /metrics page (optionally filtered
    by label substrings)."""
    total, found = 0.0, False
    for line in get(url).splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        rest = line[len(name):]
        if rest[:1] not in ("{", " "):
            continue
        if labels and not all(l in rest for l in labels):
            continue
        total += float(line.rsplit(" ", 1)[1])
        found = True
    return total if found else None


class Env:
    def __init__(self, a):
        self.a = a
        self.dir = tempfile.mkdtemp(prefix="remote-bench-")
        self.gen_base = 19100
        self.gen = start([a.gen, "--targets", str(a.targets), "--series-per-target", "1000",
                          "--base-port", str(self.gen_base), "--control-port", "19099",
                          "--interval", "10", "--seed", "1"], os.path.join(self.dir, "gen.log"))
        wait_http(f"http://127.0.0.1:{self.gen_base}/metrics", "generator")

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def targets(self):
        return ", ".join(f"'127.0.0.1:{self.gen_base + i}'" for i in range(self.a.targets))

    def config(self, name, remote=None, extra=""):
        text = (f"global:\n  scrape_interval: 10s\n  scrape_timeout: 10s\n{extra}"
                f"scrape_configs:\n  - job_name: gen\n    static_configs:\n      - targets: [{self.targets()}]\n")
        if remote:
            text += f"remote_write:\n  - url: {remote}\n"
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def vm(self, name, port):
        p = start(["victoria-metrics", f"-storageDataPath={self.path(name)}", f"-httpListenAddr=127.0.0.1:{port}",
                   "-dedup.minScrapeInterval=1ms", "-retentionPeriod=100y"], self.path(name + ".log"))
        wait_http(f"http://127.0.0.1:{port}/health", "victoria-metrics")
        return p

    def watchfire(self, name, port, cfg, extra=()):
        p = start([self.a.watchfire, "--config.file", cfg, "--storage.tsdb.path", self.path(name),
                   "--web.listen-address", f"127.0.0.1:{port}", *extra], self.path(name + ".log"))
        wait_http(f"http://127.0.0.1:{port}/-/ready", "watchfire")
        return p

    def prometheus(self, name, port, cfg, extra=()):
        p = start(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={self.path(name)}",
                   f"--web.listen-address=127.0.0.1:{port}", *extra], self.path(name + ".log"))
        wait_http(f"http://127.0.0.1:{port}/-/ready", "prometheus")
        return p

    def close(self):
        for p in PROCS:
            stop(p, signal.SIGKILL, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


def measure(proc, port, seconds, warmup=25):
    """CPU seconds of `proc` and the remote write counters over `seconds`
    after a warm-up."""
    time.sleep(warmup)
    url = f"http://127.0.0.1:{port}/metrics"
    c0, s0, b0 = cpu(proc.pid), metric(url, "prometheus_remote_storage_samples_total"), metric(url, "prometheus_remote_storage_bytes_total")
    time.sleep(seconds)
    c1, s1, b1 = cpu(proc.pid), metric(url, "prometheus_remote_storage_samples_total"), metric(url, "prometheus_remote_storage_bytes_total")
    sent = (s1 - s0) if s0 is not None and s1 is not None else None
    sent_bytes = (b1 - b0) if b0 is not None and b1 is not None else None
    return c1 - c0, sent, sent_bytes


def bench_send(a, env):
    out = {}
    vm_port = free_port()
    vm = env.vm("vm-send", vm_port)
    remote = f"http://127.0.0.1:{vm_port}/api/v1/write"
    for who in ("watchfire", "prometheus"):
        runs = {}
        for rw in (False, True):
            port = free_port()
            cfg = env.config(f"{who}-{rw}.yml", remote if rw else None)
            name = f"{who}-{'rw' if rw else 'plain'}"
            p = env.watchfire(name, port, cfg) if who == "watchfire" else env.prometheus(name, port, cfg)
            log(f"send: {name} running {a.seconds}s")
            runs[rw] = measure(p, port, a.seconds)
            stop(p)
        cpu_plain, cpu_rw = runs[False][0], runs[True][0]
        _, sent, sent_bytes = runs[True]
        out[who] = dict(
            cpu_plain_s=round(cpu_plain, 2), cpu_rw_s=round(cpu_rw, 2), samples_sent=sent,
            rw_cpu_s_per_million=round((cpu_rw - cpu_plain) / sent * 1e6, 3) if sent else None,
            wire_bytes_per_sample=round(sent_bytes / sent, 3) if sent else None,
        )
        log(f"send: {who}: {out[who]}")
    stop(vm)
    w, p = out["watchfire"], out["prometheus"]
    if w["rw_cpu_s_per_million"] and p["rw_cpu_s_per_million"]:
        out["cpu_ratio_watchfire_to_prometheus"] = round(w["rw_cpu_s_per_million"] / p["rw_cpu_s_per_million"], 3)
        out["bytes_ratio_watchfire_to_prometheus"] = round(w["wire_bytes_per_sample"] / p["wire_bytes_per_sample"], 3)
    return out


def bench_receive(a, env):
    out = {}
    for who in ("watchfire", "prometheus", "victoriametrics"):
        port = free_port()
        if who == "watchfire":
            cfg = env.config("recv-wf.yml", extra="")
            with open(cfg, "w") as f:
                f.write("scrape_configs: []\n")
            recv = env.watchfire("recv-wf", port, cfg, ["--web.enable-remote-write-receiver"])
            url = f"http://127.0.0.1:{port}/api/v1/write"
        elif who == "prometheus":
            cfg = env.path("recv-prom.yml")
            with open(cfg, "w") as f:
                f.write("scrape_configs: []\n")
            recv = env.prometheus("recv-prom", port, cfg, ["--web.enable-remote-write-receiver"])
            url = f"http://127.0.0.1:{port}/api/v1/write"
        else:
            recv = env.vm("recv-vm", port)
            url = f"http://127.0.0.1:{port}/api/v1/write"
        sport = free_port()
        scfg = env.config(f"sender-{who}.yml", url)
        sender = env.prometheus(f"sender-{who}", sport, scfg)
        log(f"receive: {who} running {a.seconds}s")
        time.sleep(25)
        surl = f"http://127.0.0.1:{sport}/metrics"
        c0, s0 = cpu(recv.pid), metric(surl, "prometheus_remote_storage_samples_total")
        time.sleep(a.seconds)
        c1, s1 = cpu(recv.pid), metric(surl, "prometheus_remote_storage_samples_total")
        stop(sender)
        stop(recv)
        got = (s1 or 0) - (s0 or 0)
        out[who] = dict(cpu_s=round(c1 - c0, 2), samples=got,
                        cpu_s_per_million=round((c1 - c0) / got * 1e6, 3) if got else None)
        log(f"receive: {who}: {out[who]}")
    for who in ("prometheus", "victoriametrics"):
        if out["watchfire"]["cpu_s_per_million"] and out[who]["cpu_s_per_million"]:
            out[f"ratio_watchfire_to_{who}"] = round(out["watchfire"]["cpu_s_per_million"] / out[who]["cpu_s_per_million"], 3)
    return out


def query_all(port, job, at):
    """Every sample a sender holds for `job`: {series: {t: value text}}."""
    q = urllib.parse.urlencode({"query": f'{{job="{job}"}}[2h]', "time": f"{at:.3f}"})
    v = json.loads(get(f"http://127.0.0.1:{port}/api/v1/query?{q}", 300))
    out = {}
    for s in v["data"]["result"]:
        key = tuple(sorted((k, x) for k, x in s["metric"].items()))
        out[key] = {round(float(t) * 1000): x for t, x in s["values"]}
    return out


def vm_all(port, job, extra):
    q = urllib.parse.urlencode({"match[]": f'{{job="{job}"}}'})
    body = get(f"http://127.0.0.1:{port}/api/v1/export?{q}", 600)
    out = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        v = json.loads(line)
        m = dict(v["metric"])
        for k in extra:
            m.pop(k, None)
        key = tuple(sorted(m.items()))
        out.setdefault(key, set()).update(v["timestamps"])
    return out


def bench_outage(a, env):
    vm_ports = {"watchfire": free_port(), "prometheus": free_port()}
    vms = {w: env.vm(f"vm-{w}", p) for w, p in vm_ports.items()}
    ports = {"watchfire": free_port(), "prometheus": free_port()}
    cfgs = {w: env.config(f"out-{w}.yml", f"http://127.0.0.1:{vm_ports[w]}/api/v1/write",
                          extra=f"  external_labels:\n    sender: {w}\n") for w in ports}

    def launch(w):
        if w == "watchfire":
            return env.watchfire("out-wf", ports[w], cfgs[w])
        return env.prometheus("out-prom", ports[w], cfgs[w])

    procs = {w: launch(w) for w in ports}
    t_start = time.time()
    log("outage: both senders writing; 60 s before the outage")
    time.sleep(60)
    for w in vms:
        stop(vms[w])
    t_down = time.time()
    log(f"outage: VictoriaMetrics stopped for {a.outage}s; SIGKILL of both senders at 1/3 and 2/3")
    for frac in (1 / 3, 2 / 3):
        time.sleep(max(0, t_down + a.outage * frac - time.time()))
        for w in procs:
            stop(procs[w], signal.SIGKILL)
            procs[w] = launch(w)
    time.sleep(max(0, t_down + a.outage - time.time()))
    vms = {w: env.vm(f"vm-{w}", p) for w, p in vm_ports.items()}
    t_up = time.time()
    log("outage: VictoriaMetrics back; waiting for the senders to catch up")
    caught = {}
    while len(caught) < 2 and time.time() - t_up < 1800:
        for w in ports:
            if w in caught:
                continue
            url = f"http://127.0.0.1:{ports[w]}/metrics"
            sent = metric(url, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds")
            # Caught up: what is delivered is as new as what is being
            # scraped (a 10 s interval, a 5 s batch deadline, 10 s slack).
            # The queue's own "highest read" would not do: while catching
            # up it rises with what is sent.
            if sent and sent >= time.time() - 25:
                caught[w] = round(time.time() - t_up, 1)
                log(f"outage: {w} caught up after {caught[w]} s")
        time.sleep(1)
    time.sleep(20)
    t_end = time.time()
    out = {}
    for w in ports:
        held = query_all(ports[w], "gen", t_end)
        urllib.request.urlopen(f"http://127.0.0.1:{vm_ports[w]}/internal/force_flush", timeout=60).read()
        got = vm_all(vm_ports[w], "gen", ["sender"])
        total = missing = 0
        for key, samples in held.items():
            have = got.get(key, set())
            for t in samples:
                if t < (t_start + 30) * 1000 or t > (t_end - 30) * 1000:
                    continue
                total += 1
                if t not in have:
                    missing += 1
        out[w] = dict(samples_compared=total, missing_in_vm=missing,
                      missing_ratio=round(missing / total, 4) if total else None,
                      catch_up_s=caught.get(w))
        log(f"outage: {w}: {out[w]}")
    out["outage_s"] = a.outage
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["send", "receive", "outage"])
    ap.add_argument("--watchfire", required=True)
    ap.add_argument("--gen", required=True, help="the shared ingest generator's binary")
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--outage", type=int, default=600)
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "remote-bench.jsonl"))
    a = ap.parse_args()
    a.watchfire = os.path.abspath(a.watchfire)
    env = Env(a)
    try:
        res = {"send": bench_send, "receive": bench_receive, "outage": bench_outage}[a.what](a, env)
        res = dict(what=a.what, targets=a.targets, series=a.targets * 1000, seconds=a.seconds,
                   at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **res)
        with open(a.out, "a") as f:
            f.write(json.dumps(res) + "\n")
        print(json.dumps(res, indent=2))
    finally:
        env.close()


if __name__ == "__main__":
    main()
