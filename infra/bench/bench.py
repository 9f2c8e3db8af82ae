#!/usr/bin/env python3
"""The performance tables of DESIGN.md §5 and of the cold request, measured in one run on this machine.

Every figure comes from the release `bootstrap`s as they are deployed, run under the official Lambda
Runtime Interface Emulator (RIE), calling DynamoDB Local over HTTPS: a TLS endpoint of the bench's
own (Python's `ssl`, TLS 1.3, a throwaway RSA 2048 chain shaped like AWS's: root, intermediate,
leaf for `localhost`) in front of a proxy that counts the calls.

The cold request, as a user of the API feels it after a cold start, is the function's init and its
first call, which opens the HTTPS connection (DNS, TCP, TLS handshake, certificate verification).
For each bootstrap, N cold starts taken round-robin (whatever else the machine does weighs on every
bootstrap alike), medians of:

- init and init + first call, in wall ms and in CPU ms. CPU is the sum over the bootstrap's threads
  of the first field of `/proc/<pid>/task/*/schedstat` (nanoseconds on the CPU; not the 10 ms ticks
  of `/proc/<pid>/stat`), counted from the bootstrap's `exec` (`bench-exec` marks it) to the moment
  it asks the runtime API for its next event (read there by a pass-through to the RIE's runtime
  API, while the bootstrap waits): after init, after the first call, after the second. Wall ends at
  that first `next` for init and when the first response reaches the runtime API for init + first
  call;
- the second call (wall, from the event's hand-over to the response; CPU), and peak memory (VmHWM)
  after it;
- ratios, in CPU ms of init + first call, to the SDK baseline (`infra/bench/sdk-baseline`: the SDK's
  default features and configuration chain, making the same `GetItem` as `/users/get` over the
  same endpoint; the bar is 1.1x) and to a bare `lambda_http` hello world (the floor);
- the estimated cold request on Lambda, which gives a function CPU in proportion to its memory
  (1769 MB = one vCPU): CPU ms x 1769 / memory MB at 128, 256, 512 and 1769 MB, plus the network
  and DynamoDB's own time, the same for every bootstrap (`--dynamodb-ms`, stated); and from it the
  memory-size model: latency and cost per million requests at 128, 256 and 512 MB.

Root certificates are given as on Lambda: a bootstrap that reads the platform store (the SDK
default, and builds before the compiled-in roots) gets `SSL_CERT_FILE` = the Mozilla roots plus the
throwaway CA, standing in for provided.al2023's bundle (`/etc/pki/tls/certs/ca-bundle.crt`); one
with the AWS roots compiled in (`shared::dynamo`, recognised by `Amazon Root CA 1` in the binary)
gets `SSL_CERT_FILE` = the throwaway CA alone, which it trusts besides its compiled-in roots, as it
would a TLS-intercepting proxy's CA.

The DESIGN.md §5 figures, as before:

- size of each bootstrap, against the 5 MiB bar;
- init duration (the RIE's `INIT REPORT`), median over the same cold starts, and its ratio to the
  two baselines (the bar: <= 1.25x the SDK baseline);
- warm latency per route (median and p99 of the invocation round trip through the RIE), the
  function's own latency (its `latencyMs` log field), the time its DynamoDB calls took, and so the
  function's overhead around them;
- DynamoDB calls per request per route, counted by the proxy (by the `X-Amz-Target` header of each
  call), against the route's budget;
- capacity units per request per route (median), write and read: the proxy adds
  `"ReturnConsumedCapacity": "TOTAL"` to every item call it forwards and reads `ConsumedCapacity`
  from the answer. These are DynamoDB Local's counts, not AWS's: it counts a `TransactWriteItems` as
  4 units per KB for each table, whatever the number of items (AWS: 2 per item per KB), and an
  answer with an error (a failed condition, a cancelled transaction) carries none (AWS charges it);
- peak memory (VmHWM of the bootstrap process) after a sustained load of sequential invocations.

With `--compare [LABEL=]DIR` (the `target/lambda` folder of another build, e.g. an earlier
commit's; repeatable, and a folder may hold only some functions), that build's bootstraps join the
same round-robin cold starts and a table compares size, init and the cold request, this build
against that one: a before/after measured in one run. With `--compare-tables LABEL` as well (bench.sh
`--compare-devserver LABEL=PATH` gives it, after that build's devserver made the tables of its own
template under the names `LABEL-` + this build's), that build's bootstraps use those tables, and its
functions run through the warm route loop beside this build's: both at once, each route's warm calls
taken round-robin, the same sample events, the same proxy; a table compares each route's calls,
capacity units, round trip and function time, with the ratio this build / that one. A function
that build lacks is left out of the cold starts; its routes, and any route it answers other than
200, are shown with "-" in the route table.

Every emulator run holds the lock `/tmp/rie.lock` (`flock`; `--rie-lock` names another, `''` none),
which the machine's other users of the RIE take too; the bench gives the RIE a runtime API port of
its own (not the fixed 9001), so it could run beside them, only not undisturbed.

Usage: bench.py --lambda-dir DIR --rie PATH --bench-exec PATH --tls-dir DIR --dynamodb-endpoint URL
                --tables JSON [--cold 20] [--warm 100] [--load 1000] [--compare [LABEL=]DIR ...]
                [--compare-tables LABEL ...]
`make bench` runs it with everything built and started (`infra/scripts/bench.sh` passes its
arguments on, e.g. `--compare DIR`).
"""

import argparse
import base64
import fcntl
import http.client
import http.server
import json
import math
import os
import re
import socket
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
import tomllib
import urllib.parse
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "infra" / "events"
ADMIN_KEY = "bench-admin-key"
MIB = 1024 * 1024
SIZE_BAR = 5 * MIB
INIT_BAR = 1.25
COLD_BAR = 1.1
RIE_LOCK = "/tmp/rie.lock"
TLS_HOST = "localhost"
# Lambda: a function gets CPU in proportion to its memory, one vCPU at 1769 MB.
VCPU_MB = 1769
MEMORY_SIZES = [128, 256, 512, 1769]
MODEL_SIZES = [128, 256, 512]
# Prices of AWS Lambda in us-east-1 (aws.amazon.com/lambda/pricing): per request, and per GB-second
# of duration (billed by the millisecond; init is billed too) on arm64 (the template's default
# Architecture) and x86_64.
PRICE_PER_MILLION_REQUESTS = 0.20
PRICE_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
# Marks a bootstrap with the AWS root certificates compiled in (see the module docs).
COMPILED_ROOTS_MARK = b"Amazon Root CA 1"

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
    "/transit/listTranscripts": 2, "/transit/saveTranscript": 2, "/transit/clearTranscripts": 2,
    "/transit/removeTranscript": 2, "/transit/getCalendarToken": 1, "/transit/setCalendarToken": 1,
    "/transit/clearCalendarToken": 1,
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


def cpu_ns(pid):
    """Nanoseconds on the CPU of every thread of `pid`, from schedstat."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # the thread ended in between
    return total


# Operations that take `ReturnConsumedCapacity`, and those of them that read (the rest write).
READ_OPS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


class Call(NamedTuple):
    """One DynamoDB call through the proxy: its operation, when it was forwarded and answered
    (perf_counter seconds), its HTTP status, and the read and write capacity units the answer
    reported (`ConsumedCapacity`)."""

    target: str
    started: float
    ended: float
    status: int
    read: float
    write: float


def consumed_capacity(target, body):
    """(read units, write units) of an answer's `ConsumedCapacity` (an object, or a list for
    batches and transactions). An entry that names `ReadCapacityUnits`/`WriteCapacityUnits` is split
    by them (a transaction repeated with its `ClientRequestToken` is answered with read units);
    otherwise its `CapacityUnits` count as reads or writes by the operation."""
    try:
        consumed = json.loads(body).get("ConsumedCapacity")
    except (ValueError, AttributeError):
        return 0.0, 0.0
    if isinstance(consumed, dict):
        consumed = [consumed]
    read = write = 0.0
    for entry in consumed or []:
        if "ReadCapacityUnits" in entry or "WriteCapacityUnits" in entry:
            read += entry.get("ReadCapacityUnits", 0.0)
            write += entry.get("WriteCapacityUnits", 0.0)
        elif target in READ_OPS:
            read += entry.get("CapacityUnits", 0.0)
        else:
            write += entry.get("CapacityUnits", 0.0)
    return read, write


class CountingProxy:
    """The TLS endpoint of DynamoDB Local: terminates TLS, forwards each DynamoDB call with
    `"ReturnConsumedCapacity": "TOTAL"` added to its body (DynamoDB Local does not check the
    signature it invalidates) and records a [`Call`] for each."""

    def __init__(self, upstream, tls_dir):
        self.upstream = urllib.parse.urlparse(upstream)
        self.calls = []
        self.lock = threading.Lock()
        proxy = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(tls_dir / "chain.pem", tls_dir / "key.pem")
        context.set_alpn_protocols(["http/1.1"])

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one segment per answer, no 40 ms delayed-ACK stall

            def setup(self):
                # The handshake in the connection's own thread, not in the accepting one.
                self.request = context.wrap_socket(self.request, server_side=True)
                super().setup()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                target = self.headers.get("x-amz-target", "?").split(".")[-1]
                if target in READ_OPS or target in WRITE_OPS:
                    try:
                        request = json.loads(body)
                        request["ReturnConsumedCapacity"] = "TOTAL"
                        body = json.dumps(request).encode()
                    except ValueError:
                        pass  # forwarded as it is; DynamoDB answers it
                started = time.perf_counter()
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                conn.request("POST", self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                ended = time.perf_counter()
                read, write = consumed_capacity(target, data)
                with proxy.lock:
                    proxy.calls.append(Call(target, started, ended, response.status, read, write))
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
        self.endpoint = f"https://{TLS_HOST}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self):
        """The calls recorded since the last `take`."""
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


class RuntimeApi:
    """A pass-through to the RIE's runtime API that records, for each request of the bootstrap,
    (kind, wall ns, CPU ns of the bootstrap) when it arrives, and when each event is handed over."""

    def __init__(self, upstream_port, stamp):
        self.events = []
        self.lock = threading.Lock()
        self.pid = None
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def forward(self, method):
                arrived = time.time_ns()
                if api.pid is None:
                    api.pid = int(Path(stamp).read_text().split()[0])
                cpu = cpu_ns(api.pid)
                kind = ("next" if self.path.endswith("/invocation/next")
                        else "response" if self.path.endswith("/response") else "other")
                with api.lock:
                    api.events.append((kind, arrived, cpu))
                body = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=None)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                deadline = time.time() + 5
                while True:
                    try:
                        conn.request(method, self.path, body=body if method == "POST" else None,
                                     headers=headers)
                        response = conn.getresponse()
                        data = response.read()
                        break
                    except ConnectionRefusedError:
                        if time.time() > deadline:  # the emulator's runtime API never came up
                            self.close_connection = True
                            return
                        conn.close()
                        time.sleep(0.01)  # its runtime API is not listening yet
                    except (OSError, http.client.HTTPException):
                        self.close_connection = True  # the emulator was stopped while the bootstrap waited
                        return
                if kind == "next":
                    with api.lock:
                        api.events.append(("handout", time.time_ns(), None))
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def do_GET(self):
                self.forward("GET")

            def do_POST(self):
                self.forward("POST")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_kind(self, kind):
        with self.lock:
            return [e for e in self.events if e[0] == kind]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Emulator:
    """One bootstrap under the RIE, started through `bench-exec` with the runtime API passed through
    [`RuntimeApi`]. Holds the machine's RIE lock while it runs (taken once for all the emulators
    this process runs at the same time: two builds' bootstraps side by side)."""

    lock_path = RIE_LOCK
    _lock_file = None
    _lock_holders = 0
    _lock_guard = threading.Lock()

    @classmethod
    def _take_lock(cls):
        if not cls.lock_path:
            return
        with cls._lock_guard:
            if cls._lock_holders == 0:
                cls._lock_file = open(cls.lock_path, "a")
                fcntl.flock(cls._lock_file, fcntl.LOCK_EX)
            cls._lock_holders += 1

    @classmethod
    def _drop_lock(cls):
        if not cls.lock_path:
            return
        with cls._lock_guard:
            cls._lock_holders -= 1
            if cls._lock_holders == 0:
                fcntl.flock(cls._lock_file, fcntl.LOCK_UN)
                cls._lock_file.close()
                cls._lock_file = None

    def __init__(self, rie, bench_exec, bootstrap, env):
        self._take_lock()
        self.closed = False
        self.port = free_port()
        rie_api_port = free_port()
        self.stamp = tempfile.NamedTemporaryFile(prefix="bench-exec-", delete=False).name
        self.api = RuntimeApi(rie_api_port, self.stamp)
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
            "CONVEX_ADMIN_KEY": ADMIN_KEY, **env,
        }
        self.process = subprocess.Popen(
            [rie, "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
             "--runtime-api-address", f"127.0.0.1:{rie_api_port}",
             str(bench_exec), self.stamp, self.api.address, str(bootstrap)],
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
        body = self.conn.getresponse().read()
        try:
            return json.loads(body)
        except ValueError:
            raise RuntimeError(f"not JSON from the emulator: {body[:200]!r}\n" + "\n".join(self.lines[-20:]))

    def init_ms(self):
        deadline = time.time() + 5
        while time.time() < deadline:
            for line in self.lines:
                m = re.search(r"INIT REPORT\(durationMs: ([0-9.]+)\)", line)
                if m:
                    return float(m.group(1))
            time.sleep(0.01)
        raise RuntimeError("no INIT REPORT line:\n" + "\n".join(self.lines[-20:]))

    def exec_stamp(self):
        """(pid, CPU ns, wall ns) of `bench-exec` just before it became the bootstrap."""
        pid, cpu, wall = Path(self.stamp).read_text().split()
        return int(pid), int(cpu), int(wall)

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
        pid = self.exec_stamp()[0]
        status = Path(f"/proc/{pid}/status").read_text()
        m = re.search(r"VmHWM:\s+(\d+) kB", status)
        if m:
            return int(m.group(1))
        raise RuntimeError("bootstrap process not found")

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.process.kill()
        self.process.wait()
        self.api.close()
        Path(self.stamp).unlink(missing_ok=True)
        self._drop_lock()


def sample_event(path):
    event = json.loads((EVENTS / f"{path.lstrip('/')}.json").read_text())
    event["headers"]["authorization"] = f"Bearer {ADMIN_KEY}"
    return event


def table_env(tables, prefix=""):
    return {env: f"{prefix}{name}" for env, name in tables}


def binary_of(folder):
    """The binary (and so the `target/lambda/<binary>/bootstrap`) of the function crate in `folder`:
    its `[[bin]]`'s name, named after its route group (`functions/workspace-layouts` builds
    `workspaceLayouts`), else the package's name."""
    manifest = tomllib.loads((folder / "Cargo.toml").read_text())
    bins = manifest.get("bin") or [{}]
    return bins[0].get("name", manifest["package"]["name"])


def function_of(group):
    """The function serving the routes `/<group>/...`: every function's binary is named after its
    group (`binary_of`)."""
    return group


def cold_route(function, requests):
    """The route a function's cold start is measured with: its first `get...` route, else its first
    `find...` or `list...`, else its first route; `api` answers `users:getUser` through `/api/query`."""
    if function == "api":
        return "/api/query"
    routes = [p for p in requests if function_of(p.split("/")[1]) == function]
    for prefix in ("get", "find", "list"):
        reads = [p for p in routes if p.split("/")[2].startswith(prefix)]
        if reads:
            return reads[0]
    return routes[0]


def roots_of(bootstrap):
    """'compiled-in' when the bootstrap carries the AWS roots, else 'platform'."""
    return "compiled-in" if COMPILED_ROOTS_MARK in Path(bootstrap).read_bytes() else "platform"


def cold_request(rie, bench_exec, bootstrap, env, event, proxy):
    """One cold start: init, the first call, the second call. Returns the figures of one run."""
    emulator = Emulator(rie, bench_exec, bootstrap, env)
    try:
        proxy.take()
        first = emulator.invoke(event)
        first_calls = [call.target for call in proxy.take()]
        second = emulator.invoke(event)
        proxy.take()
        for response in (first, second):
            if response.get("statusCode") != 200:
                raise RuntimeError(f"{bootstrap}: {response}\n" + "\n".join(emulator.lines[-20:]))
        deadline = time.time() + 5
        while len(emulator.api.of_kind("next")) < 3 and time.time() < deadline:
            time.sleep(0.002)
        _, cpu0, wall0 = emulator.exec_stamp()
        nexts = emulator.api.of_kind("next")
        responses = emulator.api.of_kind("response")
        handouts = emulator.api.of_kind("handout")
        if len(nexts) < 3 or len(responses) < 2 or len(handouts) < 2:
            raise RuntimeError(f"{bootstrap}: runtime API events missing: {emulator.api.events}")
        return {
            "init_report": emulator.init_ms(),
            "init_wall": (nexts[0][1] - wall0) / 1e6,
            "init_cpu": (nexts[0][2] - cpu0) / 1e6,
            "first_wall": (responses[0][1] - wall0) / 1e6,
            "first_cpu": (nexts[1][2] - cpu0) / 1e6,
            "second_wall": (responses[1][1] - handouts[1][1]) / 1e6,
            "second_cpu": (nexts[2][2] - nexts[1][2]) / 1e6,
            "peak": emulator.peak_rss_kib(),
            "calls": first_calls,
        }
    finally:
        emulator.close()


def cold_starts(rie, bench_exec, runs, count, proxy):
    """Medians of each bootstrap's cold request over `count` cold starts, taken round-robin so that
    whatever else the machine does weighs on every bootstrap alike. `runs`: name -> (bootstrap,
    env, event)."""
    results = {name: [] for name in runs}
    for round_ in range(count):
        for name, (bootstrap, env, event) in runs.items():
            for attempt in range(3):
                try:
                    results[name].append(cold_request(rie, bench_exec, bootstrap, env, event, proxy))
                    break
                except (RuntimeError, OSError, http.client.HTTPException) as err:
                    if attempt == 2:
                        raise
                    print(f"bench: {name}: a cold start failed, taken again: {str(err)[:300]}", flush=True)
        print(f"bench: cold starts, round {round_ + 1}/{count}", flush=True)
    medians = {}
    for name, values in results.items():
        medians[name] = {key: statistics.median(v[key] for v in values)
                         for key in values[0] if key != "calls"}
        medians[name]["calls"] = values[-1]["calls"]
    return medians


def busy_ms(calls):
    """Milliseconds covered by `calls` (calls in parallel counted once)."""
    busy, end = 0.0, None
    for s, e in sorted((call.started, call.ended) for call in calls):
        if end is None or s > end:
            busy += e - s
            end = e
        elif e > end:
            busy += e - end
            end = e
    return busy * 1000


def measure_route(path, emulators, warm, proxy):
    """`warm` calls of `path`'s sample event on each of `emulators` (build label -> running
    [`Emulator`]; None is this build), taken round-robin (the order alternating), one at a time so
    that the proxy's calls after each belong to it. Returns label -> row. A compared build whose
    first call is not answered 200 (it lacks the route) is left out; this build must answer 200."""
    event = sample_event(path)
    live = {}
    for label, emulator in emulators.items():
        response = emulator.invoke(event)  # warm the route (first connection, first item)
        if label is None or response.get("statusCode") == 200:
            live[label] = emulator
        else:
            print(f"bench: {path} @{label} answered {response.get('statusCode')} "
                  f"({str(response.get('body'))[:200]}): left out of the comparison", flush=True)
    proxy.take()
    for emulator in live.values():
        emulator.lines.clear()
    samples = {label: [] for label in live}
    order = list(live)
    for i in range(warm):
        for label in order if i % 2 == 0 else reversed(order):
            started = time.perf_counter()
            response = live[label].invoke(event)
            round_trip = (time.perf_counter() - started) * 1000
            assert response.get("statusCode") == 200, f"{path} @{label or 'this build'}: {response}"
            samples[label].append((round_trip, proxy.take()))
    rows = {}
    for label, taken in samples.items():
        round_trips = [round_trip for round_trip, _ in taken]
        dynamo_ms = [busy_ms(calls) for _, calls in taken]
        own = [line["latencyMs"] for line in live[label].log_lines() if line.get("path") == path]
        rows[label] = {
            "path": path,
            "median": statistics.median(round_trips),
            "p99": percentile(round_trips, 99),
            "function": statistics.median(own),
            "dynamo": statistics.median(dynamo_ms),
            "overhead": statistics.median(own) - statistics.median(dynamo_ms),
            "calls": max(len(calls) for _, calls in taken),
            "write": statistics.median(sum(call.write for call in calls) for _, calls in taken),
            "read": statistics.median(sum(call.read for call in calls) for _, calls in taken),
            # DynamoDB Local reports no capacity in an error answer (a failed condition, a
            # cancelled transaction); AWS charges them.
            "refused": any(call.status >= 400 for _, calls in taken for call in calls),
            "budget": BUDGETS.get(path),
        }
    return rows


def units(row, kind):
    """A route row's median capacity units of `kind` ('read' or 'write'), starred when some of its
    calls were answered with an error (DynamoDB Local counts no units for those)."""
    return f"{row[kind]:g}{'*' if row['refused'] else ''}"


def times(now, before):
    """`now / before` to two places, "-" when `before` is 0."""
    return f"{now / before:.2f}" if before else "-"


def estimate_ms(cpu_ms, memory_mb, waits_ms=0.0):
    """The time on Lambda of `cpu_ms` of CPU at `memory_mb`: a share memory/1769 of one vCPU below
    1769 MB (the path is one thread at a time: more vCPUs above it do not shorten it), plus waits."""
    return cpu_ms * max(1.0, VCPU_MB / memory_mb) + waits_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lambda-dir", required=True)
    parser.add_argument("--rie", required=True)
    parser.add_argument("--bench-exec", required=True, help="the bench-exec wrapper (infra/bench/tools)")
    parser.add_argument("--tls-dir", required=True,
                        help="ca.pem, chain.pem, key.pem (bench-certs) and platform.pem (Mozilla roots + ca.pem)")
    parser.add_argument("--dynamodb-endpoint", required=True)
    parser.add_argument("--tables", required=True, help="JSON list of [env var, table name]")
    parser.add_argument("--cold", type=int, default=20)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--load", type=int, default=1000)
    parser.add_argument("--dynamodb-ms", type=float, default=5.0,
                        help="DynamoDB's own time per call on AWS, for the estimates (default 5 ms)")
    parser.add_argument("--rie-lock", default=RIE_LOCK, metavar="PATH",
                        help=f"lock held around every emulator run (default {RIE_LOCK}; '' for none: the "
                             "bench's emulators use runtime API ports of their own, so they do not clash "
                             "with other users of the RIE, but run beside them)")
    parser.add_argument("--compare", action="append", default=[], metavar="[LABEL=]DIR",
                        help="target/lambda folder of another build to compare with (repeatable; the label "
                             "defaults to the folder's name); its bootstraps that exist join the cold starts")
    parser.add_argument("--compare-tables", action="append", default=[], metavar="LABEL",
                        help="the --compare build LABEL has tables of its own layout, made by its own "
                             "devserver and named LABEL- + this build's names (bench.sh's "
                             "--compare-devserver): its bootstraps use them, and its functions run "
                             "through the warm route loop beside this build's, round-robin")
    args = parser.parse_args()
    Emulator.lock_path = args.rie_lock

    lambda_dir = Path(args.lambda_dir)
    tls_dir = Path(args.tls_dir)
    requests = json.loads((EVENTS / "requests.json").read_text())
    functions = sorted(binary_of(d) for d in (ROOT / "functions").iterdir() if (d / "Cargo.toml").exists())
    missing = [f for f in functions if not (lambda_dir / f / "bootstrap").exists()]
    if missing:
        raise SystemExit(f"bench: no bootstrap in {lambda_dir} for {', '.join(missing)}")
    proxy = CountingProxy(args.dynamodb_endpoint, tls_dir)
    env = {
        "DYNAMODB_ENDPOINT": proxy.endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": proxy.endpoint,  # the SDK baseline's endpoint, through aws-config
        **table_env(json.loads(args.tables)),
    }
    roots_env = {"compiled-in": {"SSL_CERT_FILE": str(tls_dir / "ca.pem")},
                 "platform": {"SSL_CERT_FILE": str(tls_dir / "platform.pem")}}

    load = os.getloadavg()
    print(f"bench: {len(functions)} functions ({', '.join(functions)}), {args.cold} cold starts each over "
          f"HTTPS ({proxy.endpoint}), {args.warm} warm calls per route, {args.load} calls of sustained load; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start", flush=True)

    bootstraps = {name: lambda_dir / name / "bootstrap" for name in ["bench-hello", "bench-sdk-baseline", *functions]}
    route_functions = {}  # function -> its routes of requests.json
    for path in requests:
        route_functions.setdefault(function_of(path.split("/")[1]), []).append(path)
    builds = []
    for spec in args.compare:
        label, _, folder = spec.rpartition("=")
        builds.append((label or Path(folder).name, Path(folder)))
    compared = {f"{name} @{label}": folder / name / "bootstrap" for label, folder in builds for name in functions
                if (folder / name / "bootstrap").exists()}
    unknown = [label for label in args.compare_tables if label not in dict(builds)]
    if unknown:
        raise SystemExit(f"bench: --compare-tables {', '.join(unknown)}: no --compare build of that label")
    # A compared build with tables of its own (its devserver made them, named `<label>-` + ours).
    build_env = {label: {**env, **table_env(json.loads(args.tables), f"{label}-")} for label in args.compare_tables}

    def event_of(name):
        group = name.split(" @")[0]
        if group in ("bench-hello", "bench-sdk-baseline"):
            return sample_event("/users/get")
        return sample_event(cold_route(group, requests))

    all_bootstraps = {**bootstraps, **compared}
    roots = {name: roots_of(path) for name, path in all_bootstraps.items()}
    runs = {name: (path, {**build_env.get(name.partition(" @")[2], env), **roots_env[roots[name]]}, event_of(name))
            for name, path in all_bootstraps.items()}
    cold = cold_starts(args.rie, args.bench_exec, runs, args.cold, proxy)
    hello, sdk = cold["bench-hello"], cold["bench-sdk-baseline"]

    function_rows = []
    route_rows = []
    compared_routes = {label: {} for label in args.compare_tables}  # label -> path -> row (None: absent)
    for function in [f for f in functions if f in route_functions]:
        bootstrap = bootstraps[function]
        paths = route_functions[function]
        emulators = {None: Emulator(args.rie, args.bench_exec, bootstrap, runs[function][1])}
        try:
            for label in args.compare_tables:
                name = f"{function} @{label}"
                if name in runs:
                    emulators[label] = Emulator(args.rie, args.bench_exec, runs[name][0], runs[name][1])
                else:
                    print(f"bench: {label} has no {function} function: its routes are left out of the "
                          f"comparison", flush=True)
            for path in paths:
                rows = measure_route(path, emulators, args.warm, proxy)
                route_rows.append(rows.pop(None))
                for label in args.compare_tables:
                    compared_routes[label][path] = rows.get(label)
            for label in [label for label in emulators if label is not None]:
                emulators.pop(label).close()
            emulator = emulators[None]
            load_event = sample_event(paths[0])
            for _ in range(args.load):
                emulator.invoke(load_event)
            proxy.take()
            peak = emulator.peak_rss_kib()
        finally:
            for emulator in emulators.values():
                emulator.close()
        function_rows.append({"group": function, "size": bootstrap.stat().st_size,
                              "init": cold[function]["init_report"], "peak": peak})
        print(f"bench: {function}: {bootstrap.stat().st_size / MIB:.2f} MiB, init "
              f"{cold[function]['init_report']:.2f} ms, peak {peak / 1024:.1f} MiB", flush=True)
    for name in functions:
        if name not in route_functions:
            function_rows.append({"group": name, "size": bootstraps[name].stat().st_size,
                                  "init": cold[name]["init_report"], "peak": None})

    load = os.getloadavg()
    print()
    print(f"Machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end "
          f"of the run. CPU ms count this process's own time whatever the load; wall ms do not.")
    print()
    print(f"Cold request over HTTPS: medians of {args.cold} cold starts each, round-robin. CPU: all threads, "
          f"from exec. × columns: CPU ms of init + first call against the SDK baseline's (bar ≤ {COLD_BAR}×) "
          f"and hello's.")
    print()
    print("| bootstrap | roots | first call | init | init CPU | init + first call | init + first call CPU "
          "| × SDK baseline | ≤ 1.1× | × hello | second call | second call CPU | peak memory |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in all_bootstraps:
        row = cold[name]
        ratio = row["first_cpu"] / sdk["first_cpu"]
        bar = "-" if name.startswith("bench-") else ("yes" if ratio <= COLD_BAR else "NO")
        print(f"| {name} | {roots[name]} | {' + '.join(row['calls']) or '-'} | {row['init_wall']:.2f} ms "
              f"| {row['init_cpu']:.2f} ms | {row['first_wall']:.2f} ms | {row['first_cpu']:.2f} ms "
              f"| {ratio:.2f} | {bar} | {row['first_cpu'] / hello['first_cpu']:.2f} "
              f"| {row['second_wall']:.2f} ms | {row['second_cpu']:.2f} ms | {row['peak'] / 1024:.1f} MiB |")
    print()
    print(f"Estimated cold request on Lambda, CPU-bound part: CPU ms of init + first call × 1769 / memory MB "
          f"(a function gets memory/1769 of a vCPU; at 1769 MB and above, one vCPU per thread, and this "
          f"path runs one thread at a time). Network round trips and DynamoDB's own time come on top, the "
          f"same for every bootstrap.")
    print()
    print("| bootstrap | " + " | ".join(f"{m} MB" for m in MEMORY_SIZES) + " |")
    print("|---|" + "---|" * len(MEMORY_SIZES))
    for name in all_bootstraps:
        cpu = cold[name]["first_cpu"]
        print(f"| {name} | " + " | ".join(f"{estimate_ms(cpu, m):.0f} ms" for m in MEMORY_SIZES) + " |")
    print()
    worst_cold = max(cold[f]["first_cpu"] for f in functions)
    warm_cpu = statistics.median(cold[f]["second_cpu"] for f in functions)
    print(f"Memory size model (the functions: slowest cold request {worst_cold:.2f} CPU ms, median warm call "
          f"{warm_cpu:.2f} CPU ms; one DynamoDB call of {args.dynamodb_ms:g} ms on AWS per request). Duration = "
          f"CPU ms × 1769 / MB + DynamoDB, billed per started ms; cost per million requests = "
          f"${PRICE_PER_MILLION_REQUESTS:.2f} + 10⁶ × GB × s × ${PRICE_GB_SECOND['arm64']}/GB-s (arm64, "
          f"us-east-1; x86_64 ${PRICE_GB_SECOND['x86_64']}/GB-s); a cold request bills its init too.")
    print()
    print("| memory | cold request | warm request | cost / 10⁶ warm requests | cost / 10⁶ cold requests |")
    print("|---|---|---|---|---|")
    for m in MODEL_SIZES:
        cold_ms = estimate_ms(worst_cold, m, args.dynamodb_ms)
        warm_ms = estimate_ms(warm_cpu, m, args.dynamodb_ms)

        def cost(ms):
            return PRICE_PER_MILLION_REQUESTS + 1e6 * (m / 1024) * (math.ceil(ms) / 1000) * PRICE_GB_SECOND["arm64"]
        print(f"| {m} MB | {cold_ms:.0f} ms | {warm_ms:.1f} ms | ${cost(warm_ms):.3f} | ${cost(cold_ms):.3f} |")

    floor_init = hello["init_report"]
    sdk_init = sdk["init_report"]
    print()
    print(f"Baselines (same profile, same run): hello world {bootstraps['bench-hello'].stat().st_size / MIB:.2f} MiB, "
          f"init {floor_init:.2f} ms; SDK baseline {bootstraps['bench-sdk-baseline'].stat().st_size / MIB:.2f} MiB, "
          f"init {sdk_init:.2f} ms (the RIE's INIT REPORT).")
    print()
    print("| function | bootstrap | ≤ 5 MiB | init (median) | × hello | × SDK baseline | ≤ 1.25× | peak memory |")
    print("|---|---|---|---|---|---|---|---|")
    for row in function_rows:
        ratio = row["init"] / sdk_init
        peak = "-" if row["peak"] is None else f"{row['peak'] / 1024:.1f} MiB"
        print(f"| {row['group']} | {row['size'] / MIB:.2f} MiB | {'yes' if row['size'] <= SIZE_BAR else 'NO'} "
              f"| {row['init']:.2f} ms | {row['init'] / floor_init:.2f} | {ratio:.2f} "
              f"| {'yes' if ratio <= INIT_BAR else 'NO'} | {peak} |")
    for label, folder in builds:
        print()
        print(f"This build against {label} ({folder}), same run, same round-robin cold starts (medians):")
        print()
        print("| function | bootstrap | compared | init (INIT REPORT) | compared | init CPU | compared "
              "| init + first call CPU | compared | ratio |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name in functions:
            other = f"{name} @{label}"
            if other not in compared:
                continue
            this, that = cold[name], cold[other]
            print(f"| {name} | {bootstraps[name].stat().st_size:,} B | {compared[other].stat().st_size:,} B "
                  f"| {this['init_report']:.2f} ms | {that['init_report']:.2f} ms "
                  f"| {this['init_cpu']:.2f} ms | {that['init_cpu']:.2f} ms "
                  f"| {this['first_cpu']:.2f} ms | {that['first_cpu']:.2f} ms "
                  f"| {this['first_cpu'] / that['first_cpu']:.2f} |")
    print()
    print(f"Warm calls per route: {args.warm} each. Capacity units per request (median) as DynamoDB Local "
          f"reports them (ReturnConsumedCapacity TOTAL, added by the proxy); * = some calls were answered "
          f"with an error (a failed condition, a cancelled transaction), which it reports no units for.")
    print()
    print("| route | round trip median | p99 | function | DynamoDB | overhead | calls | budget "
          "| write units | read units |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in route_rows:
        within = row["budget"] is not None and row["calls"] <= row["budget"]
        print(f"| {row['path']} | {row['median']:.2f} ms | {row['p99']:.2f} ms | {row['function']:.2f} ms "
              f"| {row['dynamo']:.2f} ms | {row['overhead']:.2f} ms | {row['calls']} "
              f"| {row['budget']}{'' if within else ' OVER'} | {units(row, 'write')} | {units(row, 'read')} |")
    for label in args.compare_tables:
        folder = dict(builds)[label]
        print()
        print(f"Routes, {label} ({folder}, on tables of its own layout made by its own devserver) against this "
              f"build, same run, calls taken round-robin: DynamoDB calls per request (most), capacity units per "
              f"request and milliseconds (medians); × = this build / {label}. \"-\": {label} lacks the route "
              f"(or its function), or the ratio has no meaning (0 units in {label}).")
        print()
        print(f"| route | calls {label} | calls now | write units {label} | write units now | × "
              f"| read units {label} | read units now | × | round trip {label} | round trip now | × "
              f"| function {label} | function now |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        absent = []
        for row in route_rows:
            other = compared_routes[label].get(row["path"])
            if other is None:
                absent.append(row["path"])
                print(f"| {row['path']} | - | {row['calls']} | - | {units(row, 'write')} | - "
                      f"| - | {units(row, 'read')} | - | - | {row['median']:.2f} ms | - "
                      f"| - | {row['function']:.2f} ms |")
                continue
            print(f"| {row['path']} | {other['calls']} | {row['calls']} "
                  f"| {units(other, 'write')} | {units(row, 'write')} | {times(row['write'], other['write'])} "
                  f"| {units(other, 'read')} | {units(row, 'read')} | {times(row['read'], other['read'])} "
                  f"| {other['median']:.2f} ms | {row['median']:.2f} ms | {times(row['median'], other['median'])} "
                  f"| {other['function']:.2f} ms | {row['function']:.2f} ms |")
        if absent:
            print()
            print(f"Not in {label}: {', '.join(absent)}.")


if __name__ == "__main__":
    main()
