"""The Python SDK against the real capsule-broker, capsule-aggregator, capsule-audit and capsulectl
on loopback: real libzmq, CURVE, ZAP; nothing mocked. Every wait is a bounded loop."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from cluster import REPO, Cluster

SERVICE = "py-billing"


def start_agent(cluster: Cluster, name: str = "py", agent_code: str = "py-agent", **env: str) -> Path:
    state = cluster.home / "state"
    state.mkdir(exist_ok=True)
    cluster.start_agent(name, agent_code, {"STATE_DIR": str(state), "HEALTH_FILE": str(state / "health"), **env})
    return state


def healthy(cluster: Cluster, code: str = SERVICE) -> None:
    cluster.wait_for(f"{code} HEALTHY", lambda: cluster.status_of(code) == "HEALTHY")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def run_json(cluster: Cluster, *args: str) -> dict:
    result = cluster.ctl("action", "run", *args, "--json")
    assert result.stdout, result.stderr
    return dict(json.loads(result.stdout))


def test_lifecycle_healthy_unhealthy_stale_offline_and_back(cluster: Cluster) -> None:
    cluster.start_control_plane()
    state = start_agent(cluster)
    healthy(cluster)
    first = cluster.status(SERVICE)
    assert first is not None and first["healthStatus"] == "UP" and first["agentStatus"] == "ONLINE"
    assert first["healthMessage"] == "queue drained"

    (state / "health").write_text("DEGRADED")
    cluster.wait_for("UNHEALTHY", lambda: cluster.status_of(SERVICE) == "UNHEALTHY")
    assert cluster.status(SERVICE)["healthStatus"] == "DEGRADED"  # type: ignore[index]

    cluster.stop("py", signal.SIGKILL)
    cluster.wait_for("OFFLINE", lambda: cluster.status_of(SERVICE) == "OFFLINE")
    offline = cluster.status(SERVICE)
    assert offline is not None and "no heartbeat for" in offline["reason"]

    (state / "health").write_text("UP")
    start_agent(cluster)  # the stored key: no token needed, same identity
    healthy(cluster)
    assert cluster.status(SERVICE)["agentId"] == first["agentId"]  # type: ignore[index]

    expected = ["HEALTHY→UNHEALTHY", "UNHEALTHY→STALE", "STALE→OFFLINE", "OFFLINE→HEALTHY"]
    seen: list[str] = []

    def transitions() -> bool:
        nonlocal seen
        events = cluster.audit(subject=f"service:{SERVICE}", action="service.transition")
        seen = [f"{event.get('from')}→{event.get('to')}" for event in events if event.get("from")]
        return len(seen) >= len(expected) + 1

    cluster.wait_for("transitions audited", transitions)
    assert seen[-len(expected):] == expected, seen


def test_a_hung_or_failing_health_provider_reports_unknown_and_heartbeats_go_on(cluster: Cluster) -> None:
    cluster.start_control_plane()
    state = start_agent(cluster)
    healthy(cluster)
    for mode, message in (("HANG", "timed out"), ("RAISE", "health probe exploded")):
        (state / "health").write_text(mode)

        def unknown_with_message() -> bool:
            row = cluster.status(SERVICE) or {}
            return row.get("status") == "UNKNOWN" and message in str(row.get("healthMessage"))

        cluster.wait_for(f"UNKNOWN after {mode}", unknown_with_message)
        assert cluster.status(SERVICE)["agentStatus"] == "ONLINE"  # type: ignore[index]
    (state / "health").write_text("UP")
    healthy(cluster)


def test_action_round_trip_failures_and_schema(cluster: Cluster) -> None:
    cluster.start_control_plane()
    state = start_agent(cluster)
    healthy(cluster)

    run = cluster.ctl("action", "run", SERVICE, "flush-cache")
    assert run.returncode == 0, run.stderr
    assert "SUCCEEDED" in run.stdout and "cache flushed" in run.stdout
    record = run_json(cluster, SERVICE, "flush-cache")
    assert record["status"] == "SUCCEEDED" and record["data"]["flushed"] == 12
    shown = cluster.command(record["id"])
    assert shown["status"] == "SUCCEEDED" and shown["message"] == "cache flushed" and shown["data"]["flushed"] == 12

    failed = cluster.ctl("action", "run", SERVICE, "fail-always")
    assert failed.returncode != 0 and "FAILED" in failed.stdout and "quota_exceeded" in failed.stdout
    exploded = run_json(cluster, SERVICE, "explode")
    assert exploded["status"] == "FAILED" and exploded["errorCode"] == "handler_error"
    assert "the handler blew up" in exploded["errorMessage"]
    huge = run_json(cluster, SERVICE, "huge")
    assert huge["status"] == "FAILED" and huge["errorCode"] == "result_too_large"
    assert huge["errorMessage"].endswith("exceeds 65536")

    # A payload failing the schema is refused with its path, before the handler ever sees it.
    refused = cluster.ctl("action", "run", SERVICE, "set-count", "--payload", '{"count": 99}')
    assert refused.returncode != 0 and "$.count" in refused.stderr
    accepted = cluster.ctl("action", "run", SERVICE, "set-count", "--payload", '{"count": 7}')
    assert accepted.returncode == 0, accepted.stderr
    set_counts = [line for line in lines(state / "executions") if line.startswith("set-count")]
    assert len(set_counts) == 1 and set_counts[0].endswith(" 7")


@pytest.mark.parametrize("action", ["wait-for-cancel", "wait-for-cancel-sync"])
def test_cancel_reaches_the_handler(cluster: Cluster, action: str) -> None:
    cluster.start_control_plane()
    state = start_agent(cluster)
    healthy(cluster)
    created = run_json(cluster, SERVICE, action, "--no-wait")
    command_id = created["id"]
    cluster.wait_for("RUNNING", lambda: cluster.command(command_id)["status"] == "RUNNING")
    cancel = cluster.ctl("command", "cancel", command_id)
    assert cancel.returncode == 0, cancel.stderr
    cluster.wait_for("the handler saw the cancel", lambda: any(command_id in line for line in lines(state / "cancels")))
    line = next(line for line in lines(state / "cancels") if command_id in line)
    assert "cancelled=True" in line and "reason=cancelled by operator:" in line
    assert cluster.command(command_id)["status"] == "CANCELLED"


def test_no_secret_reaches_a_store_a_log_or_capsulectl(cluster: Cluster) -> None:
    planted = {"PLANTED_HEALTH": "PLANTED-HEALTH-4411", "PLANTED_CONFIG": "PLANTED-CONFIG-5522",
               "PLANTED_RESULT": "PLANTED-RESULT-6633"}
    payload_secret = "PLANTED-PAYLOAD-7744"
    cluster.start_control_plane()
    start_agent(cluster, **planted)
    healthy(cluster)
    flush = cluster.ctl("action", "run", SERVICE, "flush-cache", "--json", "--payload",
                        json.dumps({"password": payload_secret, "note": "ok"}))
    assert flush.returncode == 0, flush.stderr
    # The handler got the raw value (20 characters), not "[REDACTED]" (10).
    assert json.loads(flush.stdout)["data"]["receivedInputChars"] == len(payload_secret)
    cluster.wait_for("health details stored", lambda: "[REDACTED]" in cluster.ctl("service", "show", SERVICE).stdout)

    outputs = [flush.stdout]
    for args in (["status", "--json"], ["service", "show", SERVICE], ["service", "show", SERVICE, "--json"],
                 ["commands", "--json"], ["audit", "--json", "--limit", "1000"], ["audit"]):
        outputs.append(cluster.ctl(*args).stdout)
    secrets = [*planted.values(), payload_secret]
    for text in outputs:
        for secret in secrets:
            assert secret not in text
    assert "[REDACTED]" in "".join(outputs)
    cluster.wait_for("the result audited", lambda: len(cluster.audit(action="command.succeeded")) >= 1)

    cluster.stop_all()
    files = sorted((cluster.home / "data").iterdir())
    assert any(file.name.startswith("audit.sqlite") for file in files)
    assert any(file.name == "agent-py-agent-commands.jsonl" for file in files)
    for file in files:
        data = file.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} found in {file.name}"
    for name in cluster.processes:
        text = cluster.log_text(name)
        for secret in secrets:
            assert secret not in text, f"{secret} found in {name}.log"


def test_one_time_result_fields_are_sent_but_never_written_to_the_ledger(cluster: Cluster) -> None:
    cluster.start_control_plane()
    start_agent(cluster, PLANTED_ONE_TIME="ONE-TIME-KEY-8855")
    healthy(cluster)
    issued = run_json(cluster, SERVICE, "issue-key")
    assert issued["status"] == "SUCCEEDED" and issued["data"]["keyId"] == "k-1"
    ledger = cluster.home / "data" / "agent-py-agent-commands.jsonl"
    cluster.wait_for("the result in the ledger", lambda: issued["id"] in ledger.read_text() and
                     "k-1" in ledger.read_text())
    assert "ONE-TIME-KEY-8855" not in ledger.read_text()
    assert "ONE-TIME-KEY-8855" not in cluster.log_text("py")


def test_an_agent_killed_mid_command_never_runs_it_twice(cluster: Cluster) -> None:
    cluster.start_control_plane()
    state = start_agent(cluster)
    healthy(cluster)
    created = run_json(cluster, SERVICE, "slow", "--no-wait", "--payload", '{"seconds": 30}')
    command_id = created["id"]
    cluster.wait_for("the handler started", lambda: f"slow {command_id}" in lines(state / "executions"))
    cluster.stop("py", signal.SIGKILL)
    start_agent(cluster)
    cluster.wait_for("the command ended", lambda: cluster.command(command_id)["status"] in ("FAILED", "SUCCEEDED"))
    final = cluster.command(command_id)
    assert final["status"] == "FAILED" and final["errorCode"] == "agent_restarted"
    assert final["deliveries"] >= 2, "the broker did deliver it again after the restart"
    healthy(cluster)
    assert lines(state / "executions").count(f"slow {command_id}") == 1


def test_a_command_the_ledger_cannot_record_is_refused_and_never_runs(cluster: Cluster) -> None:
    cluster.start_control_plane()
    # A folder where the ledger file should be: it can be neither read nor written.
    (cluster.home / "data" / "agent-py-agent-commands.jsonl").mkdir(parents=True)
    state = start_agent(cluster)
    healthy(cluster)
    record = run_json(cluster, SERVICE, "flush-cache")
    assert record["status"] == "FAILED" and record["errorCode"] == "ledger_unavailable", record
    assert not any(line.startswith("flush-cache") for line in lines(state / "executions"))
    assert "ledger" in cluster.log_text("py")
    assert cluster.alive("py")


def test_the_host_starts_while_the_broker_is_unreachable_and_enrols_later(cluster: Cluster) -> None:
    state = cluster.home / "state"
    state.mkdir()
    # No broker yet: no broker.json, nothing listening. Mint the token once the broker is up.
    cluster.start("py", [__import__("sys").executable, str(Path(__file__).with_name("agent_app.py"))],
                  {"AGENT_CODE": "late-agent", "STATE_DIR": str(state), "PYTHONUNBUFFERED": "1"})
    cluster.wait_for("the host started", lambda: lines(state / "host"))
    assert cluster.alive("py")
    cluster.wait_for("the agent waiting for its broker", lambda: "Broker not known yet" in cluster.log_text("py"))
    cluster.start_control_plane()
    # A token can only be given at start: restart the host with one (the key file stays).
    cluster.stop("py", signal.SIGTERM)
    cluster.start_agent("py", "late-agent", {"STATE_DIR": str(state)})
    healthy(cluster)


def test_a_final_hello_refusal_is_logged_once_and_the_host_keeps_running(cluster: Cluster) -> None:
    cluster.start_control_plane()
    state = cluster.home / "state"
    state.mkdir()
    cluster.start_agent("py", "bad-token-agent", {"STATE_DIR": str(state), "CAPSULE_TOKEN": "cap_not-a-real-token"},
                        token=False)
    cluster.wait_for("the refusal logged", lambda: "token_invalid" in cluster.log_text("py"))
    hellos_at_refusal = cluster.log_text("py").count("Sent hello")
    # Past two hello resend periods (5 s each) and a reconnect: no further hello may go out.
    deadline = time.monotonic() + 11
    while time.monotonic() < deadline:
        time.sleep(0.5)
    text = cluster.log_text("py")
    assert cluster.alive("py"), "the host keeps running"
    assert text.count("Sent hello") == hellos_at_refusal
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "token_invalid" in errors[0]
    assert cluster.status_of(SERVICE) is None


def test_the_example_billing_worker_runs(cluster: Cluster) -> None:
    cluster.start_control_plane()
    example = REPO / "sdk" / "python" / "examples" / "billing_worker.py"
    state = cluster.home / "billing-worker"
    cluster.start_agent("example", "demo-python", {"BILLING_STATE": str(state), "HEARTBEAT_SECONDS": "1"},
                        script=example)
    healthy(cluster, "billing-worker")
    row = cluster.ctl("service", "show", "billing-worker", "--json")
    detail = json.loads(row.stdout)
    keys = {item["key"]: item for item in detail["manifest"]["configs"]}
    assert keys["apiKey"] == {"key": "apiKey", "secretRef": "env:BILLING_API_KEY", "sensitive": True}
    run = run_json(cluster, "billing-worker", "retry-failed")
    assert run["status"] == "SUCCEEDED", run
    unconfirmed = cluster.ctl("action", "run", "billing-worker", "purge-queue")
    assert unconfirmed.returncode != 0 and "requires --confirm" in unconfirmed.stderr
    confirmed = run_json(cluster, "billing-worker", "purge-queue", "--confirm")
    assert confirmed["status"] == "SUCCEEDED", confirmed
