"""Digest, canonical JSON, result capping and frames, without sockets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import capsule
from capsule import wire
from capsule.agent import result_body

# Integers parsed as floats, as Swift holds JSON numbers (and so "-0" keeps its sign).
VECTORS = json.loads((Path(__file__).parent / "data" / "swift_digest_vectors.json").read_text(), parse_int=float)


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
def test_digest_equals_swift(vector: dict) -> None:
    # The vectors were produced by the Swift code (ManifestDigest.of and JSONEncoder with
    # .sortedKeys); Tests/CapsuleDomainTests/ManifestDigestTests.swift checks Swift still agrees.
    ordered = sorted(vector["manifests"], key=lambda manifest: manifest["code"])
    assert wire.canonical_json(ordered).decode() == vector["canonical"]
    assert wire.manifest_digest(vector["manifests"]) == vector["digest"]


def test_digest_is_independent_of_order_and_changes_with_content() -> None:
    manifests = VECTORS[3]["manifests"]
    assert wire.manifest_digest(list(reversed(manifests))) == wire.manifest_digest(manifests)
    changed = json.loads(json.dumps(manifests))
    changed[0]["version"] = "2.1"
    assert wire.manifest_digest(changed) != wire.manifest_digest(manifests)


def test_manifest_built_through_the_api_matches_swift() -> None:
    vector = next(vector for vector in VECTORS if vector["name"] == "configs and actions")
    agent = capsule.Agent("digest-check", home="/nonexistent")
    svc = agent.service("billing-bridge", name="Billing bridge", version="1.4.0")
    svc.configs([capsule.Config("region", "eu-west-1"), capsule.Config("batchSize", 50), capsule.Config("ratio", 0.25),
                 capsule.Config("endpoint", "https://billing.example/v1/"),
                 capsule.Config("apiKey", sensitive=True, secret_ref="env:BILLING_API_KEY")])

    @svc.action("flush-cache", label="Flush cache", description="Drops cached invoices.")
    def flush(payload: object, ctx: capsule.ActionContext) -> None:
        return None

    @svc.action("rotate-credentials", label="Rotate credentials", danger="high", requires_confirmation=True,
                timeout=60, input_schema={"type": "object", "required": ["reason"], "additionalProperties": False,
                                          "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 200},
                                                         "replicas": {"type": "integer", "minimum": 0, "maximum": 10}}})
    def rotate(payload: object, ctx: capsule.ActionContext) -> None:
        return None

    manifest = asyncio.run(svc.manifest())
    assert [manifest] == vector["manifests"]
    assert wire.manifest_digest([manifest]) == vector["digest"]


def test_canonical_json_rejects_what_swift_cannot_hold() -> None:
    with pytest.raises(ValueError):
        wire.canonical_json({"x": float("nan")})
    with pytest.raises(TypeError):
        wire.canonical_json({"x": {1, 2}})


def test_a_small_result_is_sent_as_it_is() -> None:
    body = result_body("cmd_1", capsule.Result.ok("done", data={"flushed": 12}))
    assert body == {"commandId": "cmd_1", "success": True, "message": "done", "data": {"flushed": 12}}


def test_a_result_over_64_kib_becomes_result_too_large() -> None:
    body = result_body("cmd_1", capsule.Result.ok("big", data={"blob": "x" * 70_000}))
    assert body["success"] is False
    assert body["error"]["code"] == "result_too_large"
    size = len(wire.encode_json({"commandId": "cmd_1", "success": True, "message": "big", "data": {"blob": "x" * 70_000}}))
    assert body["error"]["message"] == f"result of {size} bytes exceeds 65536"
    assert "data" not in body and "message" not in body


def test_the_cap_counts_encoded_bytes_not_characters() -> None:
    # 30,000 three-byte characters: 30,000 characters, but more than 64 KiB of UTF-8.
    assert result_body("c", capsule.Result.ok(data={"t": "€" * 30_000}))["error"]["code"] == "result_too_large"
    fits = result_body("c", capsule.Result.ok(data={"t": "x" * 60_000}))
    assert fits["success"] is True


def test_exactly_at_the_cap_is_allowed() -> None:
    empty = len(wire.encode_json({"commandId": "c", "success": True, "data": ""}))
    at_cap = result_body("c", capsule.Result.ok(data="x" * (wire.MAX_RESULT_BYTES - empty)))
    assert at_cap["success"] is True and len(wire.encode_json(at_cap)) == wire.MAX_RESULT_BYTES
    over = result_body("c", capsule.Result.ok(data="x" * (wire.MAX_RESULT_BYTES - empty + 1)))
    assert over["error"]["code"] == "result_too_large"


def test_long_messages_are_cut_with_a_marker() -> None:
    body = result_body("c", capsule.Result.failed("bad_input", "m" * 5000))
    for text in (body["message"], body["error"]["message"]):
        assert len(text) == 4096
        assert text.endswith("…[truncated]")
        assert text.startswith("m" * 4000)
    assert result_body("c", capsule.Result.ok("m" * 4096))["message"] == "m" * 4096


def test_results_are_redacted_except_one_time_fields() -> None:
    data = {"privateKey": "pk-1", "apiToken": "tok-2", "nested": {"password": "pw-3"}, "keyId": "k"}
    body = result_body("c", capsule.Result.ok(data=data), one_time_fields=("privateKey",))
    assert body["data"] == {"privateKey": "pk-1", "apiToken": "[REDACTED]", "nested": {"password": "[REDACTED]"},
                            "keyId": "k"}
    assert result_body("c", capsule.Result.ok(data=data))["data"]["privateKey"] == "[REDACTED]"


def test_handler_return_values() -> None:
    assert result_body("c", None) == {"commandId": "c", "success": True}
    assert result_body("c", "fine")["message"] == "fine"
    assert result_body("c", {"n": 1})["data"] == {"n": 1}
    odd = result_body("c", 42)
    assert odd["success"] is False and odd["error"]["code"] == "handler_error"
    failed = result_body("c", capsule.Result.failed("quota_exceeded", "no quota"))
    assert failed["error"] == {"code": "quota_exceeded", "message": "no quota"}


def test_frames_and_decoding() -> None:
    head = wire.header("command.ack", "agt_1")
    assert head["v"] == 1 and head["seq"] == 0 and isinstance(head["ts"], int) and "corr" not in head
    frames = wire.frames(head, {"commandId": "c"}, topic="hb.agt_1")
    assert frames[0] == b"hb.agt_1" and json.loads(frames[2]) == {"commandId": "c"}
    decoded = wire.decode(frames[1:])
    assert decoded.type == "command.ack"
    for bad in ([b"{}"], [b"not json", b"{}"], [b'{"v":2,"type":"x"}', b"{}"],
                [b'{"v":1,"type":"x"}', b"x" * (wire.MAX_BODY_BYTES + 1)], [b"[]", b"{}"]):
        with pytest.raises(wire.WireError):
            wire.decode(bad)
