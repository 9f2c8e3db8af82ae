#!/usr/bin/env python3
"""The performance table of DESIGN.md §5, measured in one run on this machine.

Every figure comes from the release `bootstrap`s as they are deployed, run under the official Lambda
Runtime Interface Emulator (RIE) against DynamoDB Local:

- size of each bootstrap, against the 5 MiB bar;
- init duration (the RIE's `INIT REPORT`), median of N cold starts, and its ratio to two baselines
  built with the same profile in the same run: a bare lambda_http hello world (the floor) and one that
  also loads aws-config and builds a DynamoDB client (the bar: <= 1.25x);
- warm latency per route (median and p99 of the invocation round trip through the RIE), the
  function's own latency (its `latencyMs` log field), the time its DynamoDB calls took, and so the
  function's overhead around them;
- DynamoDB calls per request per route, counted by a proxy between the function and DynamoDB Local
  (by the `X-Amz-Target` header of each call), against the route's budget;
- peak memory (VmHWM of the bootstrap process) after a sustained load of sequential invocations.

With `--compare DIR` (the `target/lambda` folder of another build, e.g. an earlier commit's), that
build's bootstraps join the same round-robin cold starts and a table compares size and init, this
build against that one: a before/after measured in one run.

Usage: bench.py --lambda-dir DIR --rie PATH --dynamodb-endpoint URL [--cold 10] [--warm 100] [--load 1000]
                [--compare DIR]
`make bench` runs it with everything built and started (`infra/scripts/bench.sh --compare DIR`
passes the option on).
"""

import argparse
import base64
import http.client
import http.server
import json
import os
import re
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "infra" / "events"
ADMIN_KEY = "bench-admin-key"
MIB = 1024 * 1024
SIZE_BAR = 5 * MIB
INIT_BAR = 1.25

# DynamoDB calls each route may make, warm, with the sample event of infra/events/requests.json
# (repeated: the entry recorded again is an update, the pipeline id is unknown, no session has
# expired). The general budgets are in each group's crate docs; the tests' `round_trips` modules
# assert them.
BUDGETS = {
    "/account/getOrCreate": 1, "/account/update": 1, "/account/updateAccount": 1,
    "/account/recordUsage": 1, "/account/reserveUsage": 1, "/account/releaseUsage": 2,
    "/history/list": 1, "/history/record": 2, "/history/remove": 1, "/history/clear": 2,
    "/provisioning/save": 1, "/provisioning/findActive": 1, "/provisioning/markRevoked": 2,
    "/provisioning/list": 5, "/provisioning/recordUsage": 1, "/provisioning/listUsage": 1,
    "/session/save": 1, "/session/get": 1, "/session/delete": 1, "/session/prune": 8,
    "/users/ensure": 1, "/users/get": 1,
    "/pipelines/list": 2, "/pipelines/get": 1, "/pipelines/findByWebhookSecret": 2,
    "/pipelines/create": 1, "/pipelines/update": 1, "/pipelines/delete": 2,
    "/pipelines/recordRun": 1, "/pipelines/listRuns": 1,
    "/workspaceLayouts/get": 1, "/workspaceLayouts/save": 1, "/workspaceLayouts/clear": 1,
    "/translations/list": 3, "/translations/create": 2, "/translations/promote": 2,
    "/translations/clear": 4, "/translations/markAdopted": 4,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class CountingProxy:
    """Forwards DynamoDB calls to DynamoDB Local, recording (target, start, end) of each."""

    def __init__(self, upstream):
        self.upstream = urllib.parse.urlparse(upstream)
        self.calls = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one segment per answer, no 40 ms delayed-ACK stall

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                started = time.perf_counter()
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request("POST", self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                ended = time.perf_counter()
                target = self.headers.get("x-amz-target", "?").split(".")[-1]
                with proxy.lock:
                    proxy.calls.append((target, started, ended))
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self):
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


class Emulator:
    """One bootstrap under the RIE (its runtime API port is fixed, so one at a time)."""

    def __init__(self, rie, bootstrap, env):
        self.port = free_port()
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
            "CONVEX_ADMIN_KEY": ADMIN_KEY, **env,
        }
        self.process = subprocess.Popen(
            [rie, "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}", str(bootstrap)],
            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def invoke(self, event):
        self.conn.request("POST", "/2015-03-31/functions/function/invocations", body=json.dumps(event),
                          headers={"content-type": "application/json"})
        return json.loads(self.conn.getresponse().read())

    def init_ms(self):
        deadline = time.time() + 5
        while time.time() < deadline:
            for line in self.lines:
                m = re.search(r"INIT REPORT\(durationMs: ([0-9.]+)\)", line)
                if m:
                    return float(m.group(1))
            time.sleep(0.01)
        raise RuntimeError("no INIT REPORT line:\n" + "\n".join(self.lines[-20:]))

    def log_lines(self):
        out = []
        for line in self.lines:
            if line.startswith("{"):
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if "event" in value:
                    out.append(value)
        return out

    def peak_rss_kib(self):
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()
        for pid in children:
            status = Path(f"/proc/{pid}/status").read_text()
            m = re.search(r"VmHWM:\s+(\d+) kB", status)
            if m:
                return int(m.group(1))
        raise RuntimeError("bootstrap process not found")

    def close(self):
        self.process.kill()
        self.process.wait()


def sample_event(path):
    event = json.loads((EVENTS / f"{path.lstrip('/')}.json").read_text())
    event["headers"]["authorization"] = f"Bearer {ADMIN_KEY}"
    return event


def hello_event():
    event = sample_event("/users/get")
    return event


def table_env(tables):
    return {env: name for env, name in tables}


def cold_starts(rie, bootstraps, env, count):
    """Median init duration of each bootstrap over `count` cold starts, taken round-robin so that
    whatever else the machine does weighs on every bootstrap alike."""
    durations = {name: [] for name in bootstraps}
    for round_ in range(count):
        for name, bootstrap in bootstraps.items():
            emulator = Emulator(rie, bootstrap, env)
            try:
                emulator.invoke(hello_event())
                durations[name].append(emulator.init_ms())
            finally:
                emulator.close()
        print(f"bench: cold starts, round {round_ + 1}/{count}", flush=True)
    return {name: statistics.median(values) for name, values in durations.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lambda-dir", required=True)
    parser.add_argument("--rie", required=True)
    parser.add_argument("--dynamodb-endpoint", required=True)
    parser.add_argument("--tables", required=True, help="JSON list of [env var, table name]")
    parser.add_argument("--cold", type=int, default=20)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--load", type=int, default=1000)
    parser.add_argument("--compare", help="target/lambda folder of another build to compare init and size with")
    args = parser.parse_args()

    lambda_dir = Path(args.lambda_dir)
    requests = json.loads((EVENTS / "requests.json").read_text())
    groups = sorted({p.split("/")[1] for p in requests})
    proxy = CountingProxy(args.dynamodb_endpoint)
    env = {"DYNAMODB_ENDPOINT": proxy.endpoint, **table_env(json.loads(args.tables))}

    print(f"bench: {len(groups)} functions, {args.cold} cold starts each, {args.warm} warm calls per route, "
          f"{args.load} calls of sustained load", flush=True)

    functions = groups + ["api"]
    bootstraps = {name: lambda_dir / name / "bootstrap" for name in ["bench-hello", "bench-sdk-baseline", *functions]}
    compared = {}
    if args.compare:
        compared = {f"{name} (compared)": Path(args.compare) / name / "bootstrap" for name in functions}
    inits = cold_starts(args.rie, {**bootstraps, **compared}, env, args.cold)
    baselines = {name: (bootstraps[name].stat().st_size, inits[name]) for name in ["bench-hello", "bench-sdk-baseline"]}
    floor_init = baselines["bench-hello"][1]
    sdk_init = baselines["bench-sdk-baseline"][1]

    function_rows = []
    route_rows = []
    for group in groups:
        bootstrap = bootstraps[group]
        size = bootstrap.stat().st_size
        init = inits[group]
        emulator = Emulator(args.rie, bootstrap, env)
        try:
            for path in [p for p in requests if p.split("/")[1] == group]:
                event = sample_event(path)
                emulator.invoke(event)  # warm the route (first connection, first item)
                proxy.take()
                emulator.lines.clear()
                round_trips, calls_per_request, dynamo_ms = [], [], []
                for _ in range(args.warm):
                    started = time.perf_counter()
                    response = emulator.invoke(event)
                    round_trips.append((time.perf_counter() - started) * 1000)
                    assert response.get("statusCode") == 200, f"{path}: {response}"
                    calls = proxy.take()
                    calls_per_request.append(len(calls))
                    spans = sorted((s, e) for _, s, e in calls)
                    busy, end = 0.0, None
                    for s, e in spans:  # time covered by calls (parallel calls counted once)
                        if end is None or s > end:
                            busy += e - s
                            end = e
                        elif e > end:
                            busy += e - end
                            end = e
                    dynamo_ms.append(busy * 1000)
                own = [line["latencyMs"] for line in emulator.log_lines() if line.get("path") == path]
                route_rows.append({
                    "path": path,
                    "median": statistics.median(round_trips),
                    "p99": percentile(round_trips, 99),
                    "function": statistics.median(own),
                    "dynamo": statistics.median(dynamo_ms),
                    "overhead": statistics.median(own) - statistics.median(dynamo_ms),
                    "calls": max(calls_per_request),
                    "budget": BUDGETS.get(path),
                })
            load_event = sample_event(f"/{group}/" + next(p.split("/")[2] for p in requests if p.split("/")[1] == group))
            for _ in range(args.load):
                emulator.invoke(load_event)
            proxy.take()
            peak = emulator.peak_rss_kib()
        finally:
            emulator.close()
        function_rows.append({"group": group, "size": size, "init": init, "peak": peak})
        print(f"bench: {group}: {size / MIB:.2f} MiB, init {init:.2f} ms, peak {peak / 1024:.1f} MiB", flush=True)

    api_size = bootstraps["api"].stat().st_size
    function_rows.append({"group": "api (/api/query, /api/mutation)", "size": api_size, "init": inits["api"], "peak": None})

    print()
    print(f"Baselines (same profile, same run): hello world {baselines['bench-hello'][0] / MIB:.2f} MiB, "
          f"init {floor_init:.2f} ms; SDK baseline {baselines['bench-sdk-baseline'][0] / MIB:.2f} MiB, "
          f"init {sdk_init:.2f} ms.")
    print()
    print("| function | bootstrap | ≤ 5 MiB | init (median) | × hello | × SDK baseline | ≤ 1.25× | peak memory |")
    print("|---|---|---|---|---|---|---|---|")
    for row in function_rows:
        ratio = row["init"] / sdk_init
        peak = "-" if row["peak"] is None else f"{row['peak'] / 1024:.1f} MiB"
        print(f"| {row['group']} | {row['size'] / MIB:.2f} MiB | {'yes' if row['size'] <= SIZE_BAR else 'NO'} "
              f"| {row['init']:.2f} ms | {row['init'] / floor_init:.2f} | {ratio:.2f} "
              f"| {'yes' if ratio <= INIT_BAR else 'NO'} | {peak} |")
    if compared:
        print()
        print(f"This build against {args.compare} (same run, same cold starts):")
        print()
        print("| function | bootstrap | compared | init (median) | compared | init ratio |")
        print("|---|---|---|---|---|---|")
        for name in functions:
            other = f"{name} (compared)"
            print(f"| {name} | {bootstraps[name].stat().st_size:,} B | {compared[other].stat().st_size:,} B "
                  f"| {inits[name]:.2f} ms | {inits[other]:.2f} ms | {inits[name] / inits[other]:.2f} |")
    print()
    print("| route | round trip median | p99 | function | DynamoDB | overhead | calls | budget |")
    print("|---|---|---|---|---|---|---|---|")
    for row in route_rows:
        within = row["budget"] is not None and row["calls"] <= row["budget"]
        print(f"| {row['path']} | {row['median']:.2f} ms | {row['p99']:.2f} ms | {row['function']:.2f} ms "
              f"| {row['dynamo']:.2f} ms | {row['overhead']:.2f} ms | {row['calls']} "
              f"| {row['budget']}{'' if within else ' OVER'} |")


if __name__ == "__main__":
    main()
