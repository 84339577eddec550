"""What the console's browser tests (and scripts/console-services-bench.py) start: a real control plane
with the demo services, from .build/debug in a temporary home on free loopback ports with short
thresholds (sdk/python/tests/cluster.py), and `capsulectl console` processes."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "sdk" / "python" / "tests"))

from cluster import BIN, Cluster, Timeout, free_port  # noqa: E402

SCREENSHOTS = REPO / "docs" / "console"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


class Console:
    """One `capsulectl console` process and the URL it printed."""

    def __init__(self, cluster: Cluster, name: str, extra: list[str]) -> None:
        self.port = free_port()
        self.name = name
        log = open(cluster.log(name), "ab")
        self.process = subprocess.Popen(
            [str(BIN / "capsulectl"), "console", "--home", str(cluster.home), "--listen", f"127.0.0.1:{self.port}", *extra],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=dict(os.environ, CAPSULE_HOME=str(cluster.home)))
        cluster.processes[name] = self.process  # stopped with the cluster
        self.url = self._read_url(cluster)
        self.origin = f"http://127.0.0.1:{self.port}"
        self.secret = self.url.split("token=", 1)[1]

    def _read_url(self, cluster: Cluster) -> str:
        assert self.process.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()

        def pump(stream: Any) -> None:
            for line in iter(stream.readline, b""):
                lines.put(line)

        threading.Thread(target=pump, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + 30
        seen = b""
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            seen += line
            match = re.search(rb"(http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{64})", line)
            if match:
                return match.group(1).decode()
        raise Timeout(f"{self.name} printed no URL: {seen!r}\n{cluster.log_text(self.name)}")

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                cookie: bool = True) -> tuple[int, dict[str, str], bytes]:
        """A raw HTTP request to the console (no redirects followed)."""
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Host": f"127.0.0.1:{self.port}"}
        if cookie:
            all_headers["Cookie"] = f"capsule_console_{self.port}={self.secret}"
        all_headers.update(headers or {})
        request = urllib.request.Request(self.origin + path, data=data, method=method, headers=all_headers)

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


class Plane:
    """The control plane, two demo services, an owner's console and a viewer's."""

    def __init__(self, root: Path) -> None:
        self.cluster = Cluster(root)
        try:
            self._start()
        except BaseException:
            self.cluster.stop_all()
            raise

    def _start(self) -> None:
        self.cluster.start_control_plane()
        home = self.cluster.home
        # The Swift demo service (CapsuleAgentKit) and the Python one (the Python SDK), as make demo runs them.
        self.cluster.start("billing-bridge", [str(BIN / "capsule-demo-service"), "--home", str(home), "--heartbeat-seconds", "1",
                                              "--token", self.cluster.mint_token("demo-swift")])
        state = home / "billing-worker"
        state.mkdir()
        (state / "health").write_text("UP\n")  # steady health: the example's queue may otherwise go DEGRADED
        self.cluster.start_agent("billing-worker", "demo-python", script=REPO / "sdk" / "python" / "examples" / "billing_worker.py",
                                 env={"HEARTBEAT_SECONDS": "1", "BILLING_STATE": str(state), "CAPSULE_HOME": str(home)})
        self.cluster.wait_for("both services HEALTHY", lambda: self.cluster.status_of("billing-bridge") == "HEALTHY"
                              and self.cluster.status_of("billing-worker") == "HEALTHY", seconds=60)
        self.owner = Console(self.cluster, "console-owner", [])
        viewer_key = home / "viewer-vic.key"
        added = self.cluster.ctl("operator", "add", "viewer-vic", "--role", "viewer", "--out", str(viewer_key))
        assert added.returncode == 0, added.stderr
        self.viewer = Console(self.cluster, "console-viewer", ["--key", str(viewer_key)])

    def stop(self) -> None:
        self.cluster.stop_all()


def viewport(driver: Any, width: int, height: int, mobile: bool = False) -> None:
    """Sets the page's viewport exactly (screenshots are this size)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def shot(driver: Any, name: str) -> Path:
    """Saves what the browser shows into docs/console/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    time.sleep(0.3)  # let a last repaint land
    assert driver.save_screenshot(str(path)), f"no screenshot for {name}"
    return path
