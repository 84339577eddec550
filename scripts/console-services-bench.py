#!/usr/bin/env python3
"""Times the web console's services page on the server side, with a large fleet behind it.

Starts the real broker, aggregator and audit writer (from .build/debug, or --bin) in a temporary
home, enrols --agents raw-protocol agents that each declare --services services (the Python SDK's
protocol link, `capsule.link.Link`, without its health probes: one thread per agent), heartbeats
them, starts `capsulectl console`, and then sends the console the requests its pages send, one at a
time over one keep-alive connection, at most --rate a second (the broker's per-key limit is 200/s).
For each it reports the console's own time (its Server-Timing header: from the request read to the
answer written, broker and aggregator round trip included) and the time the client saw, beside the
same request sent straight to the broker over CURVE with the same operator key (no console), taken
in turn with the console's so both see the same load.

    .venv/bin/python scripts/console-services-bench.py --agents 9 --services 1000

Every wait is bounded and every process it started is stopped on the way out.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "sdk" / "python" / "tests"))
sys.path.insert(0, str(REPO / "tests" / "console"))

import cluster as cluster_module  # noqa: E402
import zmq  # noqa: E402
from capsule import wire  # noqa: E402
from capsule.home import Home  # noqa: E402
from capsule.link import Link  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


class Fleet:
    """N agents × S services over the real protocol; every 7th service reports DEGRADED."""

    def __init__(self, cluster: cluster_module.Cluster, agents: int, services: int, interval: float) -> None:
        self.links: list[tuple[Link, list[str]]] = []
        self.interval = interval
        self.stop = threading.Event()
        home = Home(cluster.home)
        endpoints = home.resolve_broker()
        for index in range(agents):
            code = f"fleet-{index:02d}"
            token = cluster.mint_token(code)
            keys = home.load_or_create_key_pair(f"agent-{code}")
            codes = [f"svc-{index:02d}-{number:04d}" for number in range(services)]
            manifests = [{"code": service, "name": f"Fleet service {service}", "version": "1.0.0", "runtime": "bench",
                          "configs": [{"key": "region", "value": "eu-west-1", "sensitive": False}], "actions": []}
                         for service in codes]
            link = Link(code, token, endpoints, keys, manifests, lambda event: None)
            link.start()
            self.links.append((link, codes))
        self.thread = threading.Thread(target=self.beat, name="fleet-heartbeats", daemon=True)
        self.thread.start()

    def beat(self) -> None:
        # Agents beat at even offsets across the interval, as a real fleet's do, not all at once.
        step = self.interval / max(1, len(self.links))
        while not self.stop.is_set():
            started = time.time()
            for position, (link, codes) in enumerate(self.links):
                self.stop.wait(max(0.0, started + position * step - time.time()))
                now = wire.now_ms()
                samples = [{"code": code, "health": {"status": "DEGRADED" if number % 7 == 0 else "UP",
                                                     "message": "queue slow" if number % 7 == 0 else "ok"},
                            "sampledAt": now} for number, code in enumerate(codes)]
                link.heartbeat(samples, self.interval, time.time())
            self.stop.wait(max(0.1, self.interval - (time.time() - started)))

    def close(self) -> None:
        self.stop.set()
        for link, _ in self.links:
            link.stop()
        for link, _ in self.links:
            link.join(5)


class Client:
    """One keep-alive HTTP connection to the console, with its session cookie."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=60)
        self.headers = {"Host": f"127.0.0.1:{console.port}", "Cookie": f"capsule_console_{console.port}={console.secret}",
                        "Content-Type": "application/json", "X-Capsule-Console": "1"}

    def call(self, service: str, op: str, params: dict[str, Any]) -> tuple[Any, float, float]:
        """The result, the console's own milliseconds, and the client's."""
        started = time.perf_counter()
        self.connection.request("POST", f"/api/{service}/{op}", body=json.dumps(params), headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        client_ms = (time.perf_counter() - started) * 1000
        timing = re.search(r"console;dur=([0-9.]+)", response.getheader("Server-Timing") or "")
        if response.status != 200:
            raise RuntimeError(f"{service}/{op} answered {response.status}: {body[:300]!r}")
        return json.loads(body), float(timing.group(1)) if timing else float("nan"), client_ms

    def get(self, path: str) -> tuple[int, float]:
        started = time.perf_counter()
        self.connection.request("GET", path, headers={key: value for key, value in self.headers.items() if key != "Content-Type"})
        response = self.connection.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000


class Direct:
    """The same request straight to the broker's router: a CURVE DEALER with the home's owner key."""

    def __init__(self, cluster: cluster_module.Cluster) -> None:
        home = Home(cluster.home)
        endpoints = home.resolve_broker()
        keys = home.load_or_create_key_pair("operator")
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.curve_secretkey = keys.secret
        self.socket.curve_publickey = keys.public
        self.socket.curve_serverkey = endpoints.server_key
        self.socket.connect(endpoints.router)

    def call(self, service: str, op: str, params: dict[str, Any]) -> float:
        started = time.perf_counter()
        head = wire.header("request", "operator:local-owner")
        self.socket.send_multipart(wire.frames(head, {"service": service, "op": op, "params": params}))
        while True:
            if not self.socket.poll(30_000):
                raise RuntimeError(f"no answer to {op} from the broker")
            reply = wire.decode(self.socket.recv_multipart())
            if reply.header.get("corr") == head["id"]:
                break
        if not reply.body.get("ok"):
            raise RuntimeError(f"{op}: {reply.body}")
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.socket.close()
        self.context.term()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=9)
    parser.add_argument("--services", type=int, default=1000, help="services per agent (at most 1000)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--rate", type=float, default=100, help="at most this many requests a second")
    parser.add_argument("--interval", type=float, default=10, help="heartbeat seconds")
    parser.add_argument("--bin", default=os.environ.get("CAPSULE_BIN", str(REPO / ".build" / "debug")))
    args = parser.parse_args()
    os.environ["CAPSULE_BIN"] = args.bin
    cluster_module.BIN = Path(args.bin)
    # Thresholds for a big fleet on 2 cores: heartbeats every --interval seconds.
    cluster_module.THRESHOLDS = ["--heartbeat-seconds", str(args.interval), "--stale-seconds", str(args.interval * 4),
                                 "--offline-seconds", str(args.interval * 6)]
    import console_plane  # noqa: E402  (the console process helper: it reads BIN from cluster)
    console_plane.BIN = Path(args.bin)

    total = args.agents * args.services
    with tempfile.TemporaryDirectory(prefix="capsule-console-bench-") as root:
        cluster = cluster_module.Cluster(Path(root))
        fleet = None
        try:
            cluster.start_control_plane()
            print(f"enrolling {args.agents} agents × {args.services} services = {total} services …", file=sys.stderr)
            fleet = Fleet(cluster, args.agents, args.services, args.interval)
            console = console_plane.Console(cluster, "console", [])
            client = Client(console)
            deadline = time.monotonic() + 300
            while True:
                summary, _, _ = client.call("aggregator", "status.summary", {})
                healthy = summary["services"].get("HEALTHY", 0) + summary["services"].get("UNHEALTHY", 0)
                if summary["totalServices"] >= total and healthy >= total:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the fleet did not come up: {summary}\n{cluster.logs()}")
                time.sleep(1)
            print(f"fleet up: {summary['services']}", file=sys.stderr)

            # A cursor deep in the list: page 61 of 50 rows (rows 3,001–3,050), or the last page of a smaller fleet.
            depth = max(1, min(60, total // 50 - 1))
            cursor = None
            for _ in range(depth):
                page, _, _ = client.call("aggregator", "status.list", {"limit": 50, "cursor": cursor} if cursor else {"limit": 50})
                cursor = page.get("next")
            scenarios = [
                ("services page: first 50 rows", "aggregator", "status.list", {"limit": 50}),
                ("services page: first 200 rows", "aggregator", "status.list", {"limit": 200}),
                (f"services page: 50 rows at row {depth * 50 + 1:,} (cursor)", "aggregator", "status.list", {"limit": 50, "cursor": cursor}),
                ("services page: search by code prefix", "aggregator", "status.list", {"limit": 50, "prefix": f"svc-{(args.agents - 1) // 2:02d}-0"}),
                ("services page: status filter UNHEALTHY", "aggregator", "status.list", {"limit": 50, "status": "UNHEALTHY"}),
                ("services page: agent filter", "aggregator", "status.list", {"limit": 50, "agent": f"fleet-{args.agents - 1:02d}"}),
                ("service detail (service.show)", "aggregator", "service.show", {"code": f"svc-{(args.agents - 1) // 2:02d}-{args.services // 2:04d}"}),
                ("dashboard counts (status.summary)", "aggregator", "status.summary", {}),
                ("baseline: session.whoami (broker only)", "broker", "session.whoami", {}),
            ]
            direct = Direct(cluster)
            rows = []
            gap = 2.0 / args.rate  # two requests per turn: the console's and the direct one
            for label, service, op, params in scenarios:
                server, seen, straight, items = [], [], [], 0
                for _ in range(10):  # warm-up
                    client.call(service, op, params)
                    direct.call(service, op, params)
                for _ in range(args.requests):
                    started = time.perf_counter()
                    result, server_ms, client_ms = client.call(service, op, params)
                    straight.append(direct.call(service, op, params))
                    server.append(server_ms)
                    seen.append(client_ms)
                    if isinstance(result, dict) and "items" in result:
                        items = len(result["items"])
                    time.sleep(max(0.0, gap - (time.perf_counter() - started)))
                rows.append((label, items, server, seen, straight))
            direct.close()
            statics = []
            for _ in range(50):
                status, ms = client.get("/js/app.js")
                assert status == 200
                statics.append(ms)

            print(f"\n{total} services ({args.agents} agents × {args.services}), heartbeats every {args.interval:g} s, "
                  f"{args.requests} sequential requests per line, binaries from {args.bin}\n")
            print("| request | rows | console p50 ms | p95 | p99 | max | browser-side p50 | direct to broker p50 | p95 |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for label, items, server, seen, straight in rows:
                print(f"| {label} | {items or '—'} | {statistics.median(server):.2f} | {percentile(server, 0.95):.2f} | "
                      f"{percentile(server, 0.99):.2f} | {max(server):.2f} | {statistics.median(seen):.2f} | "
                      f"{statistics.median(straight):.2f} | {percentile(straight, 0.95):.2f} |")
            print(f"| static file /js/app.js | — | — | — | — | — | {statistics.median(statics):.2f} | — | — |")
        finally:
            if fleet is not None:
                fleet.close()
            cluster.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
