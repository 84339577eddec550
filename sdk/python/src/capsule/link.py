"""The agent's sockets, all owned by one background thread: a DEALER to the broker's router for
hello, commands and results, and (after the first welcome) a PUB to ingest for reports and
heartbeats. Other threads talk to it only through `post`, which queues a call for that thread.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Union

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import wire
from .errors import HELLO_RETRY_SECONDS, is_final_hello_error
from .home import BrokerEndpoints, KeyPair
from .log import Repeats

__all__ = ["Link", "Welcome", "Dispatch", "Cancel", "LinkEvent"]

log = logging.getLogger("capsule.link")

HELLO_RESEND_SECONDS = 5.0
SLOW_JOINER_SECONDS = 0.2
TICK_MS = 100
#: Room left under the body cap (and --max-message-bytes, which counts topic and header too).
HEARTBEAT_BUDGET_BYTES = wire.MAX_BODY_BYTES - 8192
_HELLO_ERROR_CODES = frozenset({"agent_disabled", "internal"})


@dataclass(frozen=True)
class Welcome:
    agent_id: str
    heartbeat_seconds: float


@dataclass(frozen=True)
class Dispatch:
    body: dict[str, Any]


@dataclass(frozen=True)
class Cancel:
    command_id: str
    reason: str


LinkEvent = Union[Welcome, Dispatch, Cancel]


def socket_options() -> dict[int, int]:
    """What docs/protocol.md §8 recommends (and the Swift SDK sets): jittered reconnect with
    back-off, a bounded handshake, ZMTP pings without a TTL (a TTL makes the broker arm a timer
    per connection), TCP keepalive, no queueing while disconnected."""
    return {
        zmq.IMMEDIATE: 1,
        zmq.RECONNECT_IVL: random.randint(1000, 5000),
        zmq.RECONNECT_IVL_MAX: 30_000,
        zmq.HANDSHAKE_IVL: 5_000,
        zmq.HEARTBEAT_IVL: 10_000,
        zmq.HEARTBEAT_TIMEOUT: 30_000,
        zmq.TCP_KEEPALIVE: 1,
        zmq.TCP_KEEPALIVE_IDLE: 60,
        zmq.TCP_KEEPALIVE_INTVL: 10,
        zmq.TCP_KEEPALIVE_CNT: 3,
        zmq.LINGER: 200,
        zmq.SNDHWM: 1_000,
    }


class Link(threading.Thread):
    def __init__(self, agent_code: str, token: str | None, endpoints: BrokerEndpoints, keys: KeyPair,
                 manifests: list[dict[str, Any]], deliver: Callable[[LinkEvent], None]) -> None:
        super().__init__(name=f"capsule-link-{agent_code}", daemon=True)
        self.agent_code = agent_code
        self._token = token
        self.endpoints = endpoints
        self.keys = keys
        self._deliver = deliver
        self._calls: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._running = True
        self._repeats = Repeats(log)
        # Touched only on the link thread (ints read from elsewhere are informational).
        self.agent_id: str | None = None
        self.welcomed = False
        self.dropped_stale = 0
        self.hello_refused: str | None = None
        self._seq = 0
        self._manifests = manifests
        self._digest = wire.manifest_digest(manifests)
        self._report_pending = True
        self._publish_ready_at: float | None = None
        self._hello_next = 0.0
        self._retry_after = 0.0
        self._hello_ids: collections.deque[str] = collections.deque(maxlen=32)
        self._context: zmq.Context[zmq.Socket[bytes]] | None = None
        self._dealer: zmq.Socket[bytes] | None = None
        self._dealer_monitor: zmq.Socket[bytes] | None = None
        self._publisher: zmq.Socket[bytes] | None = None
        self._publisher_monitor: zmq.Socket[bytes] | None = None
        self._poller = zmq.Poller()

    @property
    def digest(self) -> str:
        return self._digest

    # MARK: any thread

    def post(self, call: Callable[[], object]) -> None:
        """Runs `call` on the link thread, in order."""
        self._calls.put(call)
        try:
            os.write(self._wake_write, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (a wake-up is pending anyway) or closed

    def stop(self) -> None:
        """Asks the thread to close its sockets and end, after every call posted before."""
        self.post(self._request_stop)

    def update_manifests(self, manifests: list[dict[str, Any]]) -> None:
        self.post(lambda: self._update_manifests(manifests))

    def heartbeat(self, samples: list[dict[str, Any]], interval: float, sampled_at: float) -> None:
        self.post(lambda: self._heartbeat(samples, interval, sampled_at))

    def acknowledge(self, command_id: str) -> None:
        self.post(lambda: self._send_dealer("command.ack", {"commandId": command_id}))

    def send_result(self, body: dict[str, Any]) -> None:
        self.post(lambda: self._send_dealer("command.result", body))

    # MARK: the thread

    def run(self) -> None:
        try:
            self._open()
            while self._running:
                try:
                    ready = dict(self._poller.poll(TICK_MS))
                    if self._wake_read in ready:
                        self._drain_wake()
                    self._run_calls()
                    if self._dealer_monitor in ready:
                        self._drain_dealer_monitor()
                    if self._publisher_monitor is not None and self._publisher_monitor in ready:
                        self._drain_publisher_monitor()
                    if self._dealer in ready:
                        self._drain_dealer()
                    self._tick()
                except zmq.ContextTerminated:
                    break
                except Exception:  # noqa: BLE001 - the link must outlive any one bad message
                    log.exception("Unexpected error on the Capsule link; continuing.")
                    time.sleep(0.1)
        except Exception:  # noqa: BLE001
            log.exception("The Capsule link could not start.")
        finally:
            self._close()

    def _open(self) -> None:
        self._context = zmq.Context()
        self._dealer, self._dealer_monitor = self._client(zmq.DEALER, self.endpoints.router)
        self._dealer.setsockopt(zmq.MAXMSGSIZE, wire.MAX_BODY_BYTES + 8192)
        self._poller.register(self._wake_read, zmq.POLLIN)
        self._poller.register(self._dealer, zmq.POLLIN)
        self._poller.register(self._dealer_monitor, zmq.POLLIN)
        self._dealer.connect(self.endpoints.router)

    def _client(self, kind: int, endpoint: str) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
        assert self._context is not None
        socket = self._context.socket(kind)
        for option, value in socket_options().items():
            socket.setsockopt(option, value)
        socket.curve_secretkey = self.keys.secret
        socket.curve_publickey = self.keys.public
        socket.curve_serverkey = self.endpoints.server_key
        # Attached before connecting, so no HANDSHAKE_SUCCEEDED can pass unseen.
        monitor = socket.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        return socket, monitor

    def _close(self) -> None:
        for socket in (self._dealer, self._publisher):
            if socket is not None:
                try:
                    socket.disable_monitor()
                except zmq.ZMQError:
                    pass
        for socket in (self._dealer_monitor, self._publisher_monitor, self._dealer, self._publisher):
            if socket is not None:
                socket.close(linger=200)
        if self._context is not None:
            self._context.term()
        for fd in (self._wake_read, self._wake_write):
            try:
                os.close(fd)
            except OSError:
                pass

    def _request_stop(self) -> None:
        self._running = False

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def _run_calls(self) -> None:
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                return
            if call is not None:
                call()
            if not self._running:
                return

    # MARK: DEALER

    def _sender(self) -> str:
        return self.agent_id or self.agent_code

    def _send_dealer(self, kind: str, body: dict[str, Any]) -> str | None:
        assert self._dealer is not None
        head = wire.header(kind, self._sender())
        try:
            self._dealer.send_multipart(wire.frames(head, body), zmq.NOBLOCK)
        except zmq.Again:
            log.debug("Broker link down; %s not sent.", kind)
            return None
        return str(head["id"])

    def _send_hello(self) -> None:
        now = time.monotonic()
        self._hello_next = now + HELLO_RESEND_SECONDS
        body: dict[str, Any] = {"agentCode": self.agent_code, "services": [m["code"] for m in self._manifests],
                                "manifestDigest": self._digest, "software": wire.SOFTWARE}
        if self._token:
            body["enrollmentToken"] = self._token
        sent = self._send_dealer("agent.hello", body)
        if sent is not None:
            self._hello_ids.append(sent)
            log.debug("Sent hello %s.", sent)

    def _hello_allowed(self) -> bool:
        return self.hello_refused is None and time.monotonic() >= self._retry_after

    def _drain_dealer_monitor(self) -> None:
        assert self._dealer_monitor is not None
        while True:
            try:
                event = recv_monitor_message(self._dealer_monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                log.info("Connected to the broker at %s.", event["endpoint"].decode(errors="replace"))
                self._repeats.clear("handshake")
                if self._hello_allowed():
                    self._send_hello()
            elif kind == zmq.EVENT_DISCONNECTED:
                if self.welcomed:
                    log.info("Lost the broker link; reconnecting.")
                self.welcomed = False
            elif kind in (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                          zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
                self._repeats.log_first("handshake", logging.WARNING, "The broker refused the handshake (status %s).",
                                        event["value"])

    def _drain_dealer(self) -> None:
        assert self._dealer is not None
        while True:
            try:
                message = self._dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                decoded = wire.decode(message)
            except wire.WireError as error:
                self._repeats.log_first("malformed", logging.WARNING, "Dropped a malformed message from the broker: %s",
                                        error)
                continue
            self._handle(decoded)

    def _handle(self, message: wire.Decoded) -> None:
        body = message.body if isinstance(message.body, dict) else {}
        kind = message.type
        if kind == "agent.welcome":
            agent_id, seconds = body.get("agentId"), body.get("heartbeatSeconds")
            if not isinstance(agent_id, str) or not isinstance(seconds, (int, float)) or seconds <= 0:
                log.warning("Ignored a malformed welcome.")
                return
            self._welcome(agent_id, float(seconds))
        elif kind == "command.dispatch":
            if isinstance(body.get("commandId"), str):
                self._deliver(Dispatch(body))
            else:
                log.warning("Ignored a command without a commandId.")
        elif kind == "command.cancel":
            command_id, reason = body.get("commandId"), body.get("reason")
            if isinstance(command_id, str):
                self._deliver(Cancel(command_id, reason if isinstance(reason, str) else "cancelled"))
        elif kind == "report.request":
            self._report_pending = True
        elif kind == "error":
            self._error(message.header.get("corr"), body)
        else:
            log.debug("Ignored a %s message.", kind)

    def _welcome(self, agent_id: str, seconds: float) -> None:
        first = self.agent_id is None
        if self.agent_id != agent_id:
            self.agent_id = agent_id
            log.info("Broker welcomed this agent as %s.", agent_id)
        if not self.welcomed and not first:
            log.info("Broker welcomed this agent again.")
        self.welcomed = True
        self._token = None  # the key is enrolled now; the one-time token is spent
        self._retry_after = 0.0
        self._repeats.clear("hello")
        self._report_pending = True
        self._open_publisher()
        self._deliver(Welcome(agent_id, seconds))

    def _error(self, corr: Any, body: dict[str, Any]) -> None:
        code = str(body.get("code", "unknown"))
        text = str(body.get("message", ""))
        is_hello = corr in self._hello_ids if isinstance(corr, str) else (
            code in _HELLO_ERROR_CODES or is_final_hello_error(code))
        if not is_hello:
            level = logging.INFO if code == "command_terminal" else logging.WARNING
            self._repeats.log_first(f"error:{code}", level, "The broker refused a message: %s: %s", code, text)
            return
        self.welcomed = False
        if is_final_hello_error(code):
            if self.hello_refused is None:
                self.hello_refused = code
                log.error("The broker refused this agent (%s: %s). It will not try again until the process "
                          "restarts; the service keeps running ungoverned.", code, text)
            return
        self._retry_after = time.monotonic() + HELLO_RETRY_SECONDS
        self._repeats.log_first("hello", logging.WARNING, "The broker refused the hello (%s: %s); retrying in %g s.",
                                code, text, HELLO_RETRY_SECONDS)

    # MARK: PUB

    def _open_publisher(self) -> None:
        if self._publisher is not None:
            return
        self._publisher, self._publisher_monitor = self._client(zmq.PUB, self.endpoints.ingest)
        self._poller.register(self._publisher_monitor, zmq.POLLIN)
        self._publisher.connect(self.endpoints.ingest)

    def _drain_publisher_monitor(self) -> None:
        assert self._publisher_monitor is not None
        while True:
            try:
                event = recv_monitor_message(self._publisher_monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                # The broker's subscription follows the handshake; give it a moment (slow joiner).
                self._publish_ready_at = time.monotonic() + SLOW_JOINER_SECONDS
                self._report_pending = True
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self._publish_ready_at = None

    def _publish(self, kind: str, topic: str, body: dict[str, Any]) -> bool:
        assert self._publisher is not None
        self._seq += 1
        head = wire.header(kind, self._sender(), seq=self._seq)
        try:
            self._publisher.send_multipart(wire.frames(head, body, topic=topic), zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def _tick(self) -> None:
        now = time.monotonic()
        if not self.welcomed and self._hello_allowed() and now >= self._hello_next:
            self._send_hello()
        if (self._report_pending and self.agent_id is not None and self._publisher is not None
                and self._publish_ready_at is not None and self._publish_ready_at <= now):
            report = {"agentId": self.agent_id, "agentCode": self.agent_code, "digest": self._digest,
                      "services": self._manifests}
            if self._publish("service.report", f"report.{self.agent_id}", report):
                self._report_pending = False

    def _update_manifests(self, manifests: list[dict[str, Any]]) -> None:
        digest = wire.manifest_digest(manifests)
        if digest != self._digest:
            self._manifests = manifests
            self._digest = digest
            self._report_pending = True

    def _heartbeat(self, samples: list[dict[str, Any]], interval: float, sampled_at: float) -> None:
        """Publishes a heartbeat sampled at `sampled_at` (epoch seconds); one that cannot go out
        within an interval of its sample is dropped and counted, never sent late."""
        if self.agent_id is None or self._publisher is None or self._publish_ready_at is None:
            self.dropped_stale += 1
            return
        if time.time() - sampled_at > interval:
            self.dropped_stale += 1
            return
        body = {"agentId": self.agent_id, "agentCode": self.agent_code, "manifestDigest": self._digest,
                "intervalSeconds": interval, "services": samples, "droppedStale": self.dropped_stale}
        if len(wire.encode_json(body)) > HEARTBEAT_BUDGET_BYTES:
            # The broker drops an oversized message whole, which would read as STALE: send the
            # statuses and messages without the details instead.
            self._repeats.log_first("oversized", logging.WARNING, "Health details make the heartbeat larger than "
                                    "%d bytes; sending it without details.", HEARTBEAT_BUDGET_BYTES)
            body["services"] = [{**sample, "health": {key: value for key, value in sample["health"].items()
                                                      if key != "details"}} for sample in samples]
        self._publish("heartbeat", f"hb.{self.agent_id}", body)
