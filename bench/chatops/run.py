#!/usr/bin/env python3
"""ChatOps callback benchmark: signed Slack interaction requests in, 200 out.

Starts a stand-in for Slack's Web API (chat.postMessage, chat.update and
response URLs, as Slack's documents give them) and a watchfire release
binary pinned to one core (taskset -c 0) with an alerter and a ChatOps file,
fires --groups alert groups so that each gets its interactive message,
then presses Acknowledge on every message from --concurrency threads at
once, each request signed as Slack signs it (v0 HMAC-SHA256). Every press
must answer 200 and acknowledge its group. Prints the latency of the
presses (p50, p90, p99, max) and the actions per second, then the same for
Unacknowledge.

Usage: python3 bench/chatops/run.py --watchfire target/release/watchfire
           [--groups 2000] [--concurrency 200] [--out results.json]

Standard library only; listens on 127.0.0.1; stops what it started and
removes its temporary directory on exit.
"""
import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SECRET = "bench-signing-secret"
BOT = "xoxb-bench"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Slack(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SlackHandler)
        self.lock = threading.Lock()
        self.posts = []  # (ts, body)
        self.updates = 0
        self.n = 0

    def handle_error(self, request, client_address):
        # watchfire closes idle keep-alive connections; not an error here.
        pass


class SlackHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        srv = self.server
        if self.path == "/api/chat.postMessage":
            with srv.lock:
                srv.n += 1
                ts = "1700000000.%06d" % srv.n
                srv.posts.append((ts, json.loads(body)))
            out = {"ok": True, "channel": "C0BENCH", "ts": ts}
        elif self.path == "/api/chat.update":
            with srv.lock:
                srv.updates += 1
            out = {"ok": True}
        else:
            out = {"ok": True}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def wait_ready(port, limit=60):
    end = time.time() + limit
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/-/ready")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("watchfire did not get ready")


def post_json(port, path, value):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", path, json.dumps(value), {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.status


def get_json(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    return json.loads(c.getresponse().read())


def press_body(slack_port, message, ts, action, user="U_BENCH"):
    block = next(b for b in message["attachments"][0]["blocks"] if b["type"] == "actions")
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "bench", "team_id": "T_BENCH"},
        "team": {"id": "T_BENCH"},
        "container": {"type": "message", "message_ts": ts, "channel_id": "C0BENCH"},
        "channel": {"id": "C0BENCH"},
        "response_url": "http://127.0.0.1:%d/actions/resp" % slack_port,
        "actions": [{"action_id": action, "block_id": block["block_id"], "type": "button", "value": action}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def press(port, body):
    ts = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), ("v0:%s:%s" % (ts, body)).encode(), hashlib.sha256)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + mac.hexdigest(),
    }
    started = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/api/v1/chatops/slack/interactions", body, headers)
    r = c.getresponse()
    r.read()
    took = time.perf_counter() - started
    c.close()
    return r.status, took


def burst(port, bodies, concurrency):
    """Presses every body, `concurrency` at a time (each thread its share,
    all released together); returns the latencies and the wall time."""
    results = [None] * len(bodies)
    gate = threading.Barrier(concurrency + 1)

    def worker(k):
        gate.wait()
        for i in range(k, len(bodies), concurrency):
            results[i] = press(port, bodies[i])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    bad = [r for r in results if r is None or r[0] != 200]
    if bad:
        raise SystemExit("%d presses did not answer 200: %s" % (len(bad), bad[:3]))
    return [r[1] for r in results], wall


def summary(name, lat, wall):
    lat = sorted(lat)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    out = {
        "action": name,
        "presses": len(lat),
        "p50_ms": round(q(0.50), 2),
        "p90_ms": round(q(0.90), 2),
        "p99_ms": round(q(0.99), 2),
        "max_ms": round(lat[-1] * 1000, 2),
        "mean_ms": round(statistics.mean(lat) * 1000, 2),
        "actions_per_s": round(len(lat) / wall, 1),
    }
    print("%-6s %5d presses  p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms  max %7.2f ms  %7.1f actions/s"
          % (name, out["presses"], out["p50_ms"], out["p90_ms"], out["p99_ms"], out["max_ms"], out["actions_per_s"]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--watchfire", required=True)
    ap.add_argument("--groups", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--out")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="wf-chatops-bench-")
    slack = Slack()
    threading.Thread(target=slack.serve_forever, daemon=True).start()
    sport = slack.server_address[1]
    proc = None

    def stop(*_):
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        slack.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(1)))
    try:
        am = os.path.join(tmp, "am.yml")
        with open(am, "w") as f:
            f.write("route: {receiver: team, group_by: [alertname], group_wait: 0s, group_interval: 1m, repeat_interval: 4h}\n"
                    "receivers:\n  - name: team\n    slack_configs:\n      - api_url: http://127.0.0.1:%d/api/chat.postMessage\n        channel: '#bench'\n" % sport)
        chatops = os.path.join(tmp, "chatops.yml")
        with open(chatops, "w") as f:
            f.write("slack:\n  bot_token: %s\n  signing_secret: %s\n  api_url: http://127.0.0.1:%d/api/\n"
                    "receivers:\n  - name: team\n    allow: {users: ['slack:U_BENCH']}\n" % (BOT, SECRET, sport))
        prom = os.path.join(tmp, "prometheus.yml")
        open(prom, "w").close()
        port = free_port()
        cmd = ["taskset", "-c", "0", a.watchfire, "--config.file", prom,
               "--web.listen-address", "127.0.0.1:%d" % port,
               "--storage.tsdb.path", os.path.join(tmp, "data"),
               "--alertmanager.config.file", am, "--chatops.config.file", chatops]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "log"), "w"))
        wait_ready(port)
        alerts = [{"labels": {"alertname": "Bench%05d" % i, "service": "api"}} for i in range(a.groups)]
        for i in range(0, len(alerts), 500):
            post_json(port, "/api/v2/alerts", alerts[i:i + 500])
        end = time.time() + 120
        while len(slack.posts) < a.groups and time.time() < end:
            time.sleep(0.2)
        if len(slack.posts) < a.groups:
            raise SystemExit("only %d of %d messages arrived" % (len(slack.posts), a.groups))
        print("load average before: %s" % (open("/proc/loadavg").read().split()[:3],))
        results = []
        posts = list(slack.posts)
        bodies = [press_body(sport, m, ts, "ack") for ts, m in posts]
        lat, wall = burst(port, bodies, a.concurrency)
        results.append(summary("ack", lat, wall))
        acked = sum(1 for g in get_json(port, "/api/v2/alerts/groups") if "answer" in g)
        if acked != a.groups:
            raise SystemExit("%d of %d groups acknowledged" % (acked, a.groups))
        bodies = [press_body(sport, m, ts, "unack") for ts, m in posts]
        lat, wall = burst(port, bodies, a.concurrency)
        results.append(summary("unack", lat, wall))
        out = {"groups": a.groups, "concurrency": a.concurrency, "cores": 1, "results": results}
        if a.out:
            with open(a.out, "w") as f:
                json.dump(out, f, indent=2)
    finally:
        stop()


if __name__ == "__main__":
    main()
