"""Real Capsule daemons on loopback for the end-to-end tests, as Tests/CapsuleEndToEndTests/Cluster.swift
starts them: a temporary home, free ports, short thresholds, every wait a bounded loop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("CAPSULE_BIN", REPO / ".build" / "debug"))
AGENT_APP = Path(__file__).with_name("agent_app.py")
THRESHOLDS = ["--heartbeat-seconds", "1", "--stale-seconds", "3", "--offline-seconds", "5"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Timeout(AssertionError):
    pass


class Cluster:
    def __init__(self, root: Path) -> None:
        missing = [name for name in ("capsule-broker", "capsule-aggregator", "capsule-audit", "capsulectl")
                   if not (BIN / name).exists()]
        if missing:
            raise RuntimeError(f"{', '.join(missing)} not found in {BIN}: run `swift build` first (or set CAPSULE_BIN)")
        self.home = root / "home"
        self.home.mkdir(parents=True)
        self.ports = {"ingest": free_port(), "bus": free_port(), "router": free_port()}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # MARK: processes

    def log(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def log_text(self, name: str) -> str:
        try:
            return self.log(name).read_text(errors="replace")
        except OSError:
            return ""

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        environment = dict(os.environ, CAPSULE_HOME=str(self.home))
        environment.update(env or {})
        with open(self.log(name), "ab") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=environment)
        self.processes[name] = process
        return process

    def start_broker(self) -> None:
        self.start("broker", [str(BIN / "capsule-broker"), "--home", str(self.home), *THRESHOLDS,
                              "--ingest-bind", f"tcp://127.0.0.1:{self.ports['ingest']}",
                              "--bus-bind", f"tcp://127.0.0.1:{self.ports['bus']}",
                              "--router-bind", f"tcp://127.0.0.1:{self.ports['router']}"])
        self.wait_for("broker.json", lambda: (self.home / "broker.json").exists())

    def start_control_plane(self) -> None:
        self.start_broker()
        self.start("aggregator", [str(BIN / "capsule-aggregator"), "--home", str(self.home), *THRESHOLDS])
        self.start("audit", [str(BIN / "capsule-audit"), "--home", str(self.home)])
        self.wait_for("operator access", lambda: self.ctl("token", "list").returncode == 0)

    def start_agent(self, name: str, agent_code: str, env: dict[str, str] | None = None,
                    script: Path = AGENT_APP, token: bool = True) -> subprocess.Popen[bytes]:
        """Starts a Python agent; a first start gets a fresh registration token in CAPSULE_TOKEN."""
        environment = {"AGENT_CODE": agent_code, "PYTHONUNBUFFERED": "1"}
        environment.update(env or {})
        if token and not (self.home / "keys" / f"agent-{agent_code}.key").exists():
            environment["CAPSULE_TOKEN"] = self.mint_token(agent_code)
        return self.start(name, [sys.executable, str(script)], environment)

    def stop(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.get(name)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name, signal.SIGTERM)

    def alive(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    # MARK: capsulectl

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "capsulectl"), *args, "--home", str(self.home)], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def ctl_json(self, *args: str) -> Any:
        result = self.ctl(*args, "--json")
        if result.returncode != 0:
            return None
        try:
            return json.loads(result.stdout)
        except ValueError:
            return None

    def mint_token(self, agent_code: str) -> str:
        for _ in range(50):
            result = self.ctl("token", "create", "--name", "pytest", "--agent-code", agent_code, "--json")
            if result.returncode == 0:
                return str(json.loads(result.stdout)["token"])
            time.sleep(0.2)
        raise Timeout(f"could not mint a token: {result.stderr}\n{self.logs()}")

    def status(self, code: str) -> dict[str, Any] | None:
        rows = self.ctl_json("status") or []
        return next((row for row in rows if row.get("code") == code), None)

    def status_of(self, code: str) -> str | None:
        row = self.status(code)
        return None if row is None else str(row.get("status"))

    def command(self, command_id: str) -> dict[str, Any]:
        result = self.ctl("command", "show", command_id, "--json")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def audit(self, **filters: str) -> list[dict[str, Any]]:
        args = ["audit", "--limit", "10000", "--json"]
        for key, value in filters.items():
            args += [f"--{key}", value]
        result = self.ctl(*args)
        if result.returncode != 0:
            return []
        records = json.loads(result.stdout) if result.stdout.strip() else []
        return [record["event"] for record in sorted(records, key=lambda record: record["id"])]

    # MARK: waiting

    def wait_for(self, what: str, condition: Callable[[], object], seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise Timeout(f"timed out waiting for {what}\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for name in sorted(self.processes):
            lines = self.log_text(name).splitlines()[-25:]
            parts.append(f"--- {name}.log (last lines)\n" + "\n".join(lines))
        return "\n".join(parts)
