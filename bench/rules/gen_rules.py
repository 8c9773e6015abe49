#!/usr/bin/env python3
"""Writes N alerting rules over the query benchmark's scaled dataset
(../../../shared/bench/query, gen_dataset.py --scale 50) as a Prometheus rule
file, in groups of 100.

The dataset ends at a fixed time, so every selector is pinned there with
`@ END`; the rules then read the same data whatever the wall clock says.
Instances are read from a running server that holds the dataset.

    gen_rules.py --url http://127.0.0.1:9090 --rules 1000 --out rules.yml
"""
import argparse
import json
import urllib.parse
import urllib.request

END = 1793491200  # gen_dataset.py END


def instances(url, job):
    q = urllib.parse.urlencode({"match[]": f'up{{job="{job}"}}', "start": END - 300, "end": END})
    with urllib.request.urlopen(f"{url}/api/v1/series?{q}") as r:
        return sorted({s["instance"] for s in json.load(r)["data"]})


# (name, job, for, expr with {i} for the instance; every selector at @ END)
KINDS = [
    ("InstanceDown", "api", "5m", 'up{{instance="{i}"}} @ END == 0'),
    ("HighErrorRate", "api", "10m",
     'sum by (job, instance) (rate(http_requests_total{{instance="{i}",status=~"5.."}}[5m] @ END))'
     ' / sum by (job, instance) (rate(http_requests_total{{instance="{i}"}}[5m] @ END)) > 0.01'),
    ("HighLatencyP99", "api", "10m",
     'histogram_quantile(0.99, sum by (job, instance, le) (rate(http_request_duration_seconds_bucket{{instance="{i}"}}[5m] @ END))) > 0.25'),
    ("WebErrors", "web", "5m",
     'sum by (instance, handler) (rate(http_requests_total{{instance="{i}",status=~"5.."}}[5m] @ END)) > 0.05'),
    ("HighCPU", "node", "15m",
     '100 * (1 - avg by (job, instance) (rate(node_cpu_seconds_total{{instance="{i}",mode="idle"}}[5m] @ END))) > 20'),
    ("DiskFilling", "node", "30m",
     'node_filesystem_avail_bytes{{instance="{i}",fstype!="tmpfs"}} @ END'
     ' / node_filesystem_size_bytes{{instance="{i}",fstype!="tmpfs"}} @ END < 0.5'),
    ("MemoryLow", "node", "10m",
     'node_memory_MemAvailable_bytes{{instance="{i}"}} @ END / node_memory_MemTotal_bytes{{instance="{i}"}} @ END < 0.5'),
    ("QueueBacklog", "worker", "15m", 'avg_over_time(queue_length{{instance="{i}"}}[30m] @ END) > 10'),
]

# A few fleet-wide rules, as real rule files have.
FLEET = [
    ("JobErrorRatio", "0m",
     'sum by (job) (rate(http_requests_total{status=~"5.."}[5m] @ END)) / sum by (job) (rate(http_requests_total[5m] @ END)) > 0.001'),
    ("JobLatencyP99", "0m",
     'histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m] @ END))) > 0.2'),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    inst = {job: instances(a.url, job) for job in {k[1] for k in KINDS}}
    rules = []
    for n in range(a.rules - 2 * len(FLEET)):
        name, job, hold, expr = KINDS[n % len(KINDS)]
        pool = inst[job]
        i = pool[(n // len(KINDS)) % len(pool)]
        rules.append((f"{name}{n}", hold, expr.format(i=i)))
    for n in range(2):
        for name, hold, expr in FLEET:
            rules.append((f"{name}{n}", hold, expr))
    with open(a.out, "w") as f:
        f.write("groups:\n")
        for g in range(0, len(rules), 100):
            f.write(f"  - name: bench-{g // 100}\n    rules:\n")
            for name, hold, expr in rules[g:g + 100]:
                f.write(f"      - alert: {name}\n")
                f.write(f"        expr: '{expr.replace('END', str(END))}'\n")
                f.write(f"        for: {hold}\n")
                f.write("        labels:\n          severity: page\n")
                f.write("        annotations:\n")
                f.write("          summary: '{{ $labels.instance }} of {{ $labels.job }}: {{ $value | humanize }}'\n")
    print(f"{len(rules)} rules in {(len(rules) + 99) // 100} groups -> {a.out}")


if __name__ == "__main__":
    main()
