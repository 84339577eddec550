"""The link's decisions on hello errors and stale heartbeats, without sockets."""

from __future__ import annotations

import json
import time
from typing import Any

import zmq

from capsule.home import BrokerEndpoints, KeyPair
from capsule.link import Link, LinkEvent


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []

    def send_multipart(self, frames: list[bytes], flags: int = 0) -> None:
        self.sent.append(frames)


def make_link(events: list[LinkEvent] | None = None) -> Link:
    public, secret = zmq.curve_keypair()
    manifests: list[dict[str, Any]] = [{"code": "svc", "name": "s", "version": "1", "runtime": "python",
                                        "configs": [], "actions": []}]
    sink = events if events is not None else []
    return Link("agent", "cap_token", BrokerEndpoints("tcp://127.0.0.1:1", "tcp://127.0.0.1:2", public),
                KeyPair(public, secret), manifests, sink.append)


def test_a_final_hello_error_stops_hellos_for_good() -> None:
    link = make_link()
    link._hello_ids.append("hello-1")
    link._error("hello-1", {"code": "token_used", "message": "token already used by agt_1"})
    assert link.hello_refused == "token_used"
    assert not link._hello_allowed()
    link._error("hello-1", {"code": "token_invalid", "message": "again"})
    assert link.hello_refused == "token_used", "the first final refusal is the one reported"


def test_a_retryable_hello_error_waits_thirty_seconds() -> None:
    link = make_link()
    for code in ("agent_disabled", "internal", "brand_new_code"):
        link._hello_ids.append(f"hello-{code}")
        before = time.monotonic()
        link._error(f"hello-{code}", {"code": code, "message": "x"})
        assert link.hello_refused is None
        assert link._retry_after >= before + 30
        assert not link._hello_allowed()
        link._retry_after = 0.0
        assert link._hello_allowed()


def test_errors_for_other_messages_do_not_touch_the_hello() -> None:
    link = make_link()
    link._hello_ids.append("hello-1")
    link._error("result-9", {"code": "token_invalid", "message": "not about the hello"})
    link._error("result-9", {"code": "command_terminal", "message": "cmd_1: command is already CANCELLED"})
    assert link.hello_refused is None and link._hello_allowed()


def test_heartbeats_that_cannot_go_out_in_time_are_dropped_and_counted() -> None:
    link = make_link()
    link._heartbeat([], 1.0, time.time())
    assert link.dropped_stale == 1, "not welcomed yet"
    publisher = FakeSocket()
    link.agent_id, link._publisher, link._publish_ready_at = "agt_1", publisher, time.monotonic()  # type: ignore[assignment]
    link._heartbeat([], 1.0, time.time() - 5)
    assert link.dropped_stale == 2, "sampled more than an interval ago"
    link._heartbeat([{"code": "svc", "health": {"status": "UP"}, "sampledAt": 1}], 1.0, time.time())
    assert len(publisher.sent) == 1
    topic, header, body = publisher.sent[0]
    assert topic == b"hb.agt_1"
    assert json.loads(header)["seq"] == 1 and json.loads(header)["sender"] == "agt_1"
    assert json.loads(body)["droppedStale"] == 2
    assert json.loads(body)["manifestDigest"] == link.digest


def test_a_welcome_spends_the_token_and_asks_for_a_report() -> None:
    events: list[LinkEvent] = []
    link = make_link(events)
    link._open_publisher = lambda: None  # type: ignore[method-assign]
    link._welcome("agt_7", 2.0)
    assert link.agent_id == "agt_7" and link.welcomed and link._token is None and link._report_pending
    assert len(events) == 1


def test_a_heartbeat_too_large_for_the_broker_goes_without_details() -> None:
    link = make_link()
    publisher = FakeSocket()
    link.agent_id, link._publisher, link._publish_ready_at = "agt_1", publisher, time.monotonic()  # type: ignore[assignment]
    big = {"code": "svc", "health": {"status": "UP", "message": "ok", "details": {"blob": "x" * 300_000}},
           "sampledAt": 1}
    link._heartbeat([big], 1.0, time.time())
    body = json.loads(publisher.sent[0][2])
    assert body["services"] == [{"code": "svc", "health": {"status": "UP", "message": "ok"}, "sampledAt": 1}]
    assert len(publisher.sent[0][2]) < 262_144
