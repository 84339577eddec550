"""The Python service the end-to-end tests govern, configured through the environment:

AGENT_CODE, SERVICE_CODE (default py-billing), CAPSULE_TOKEN, HEALTH_FILE (UP, DEGRADED, DOWN,
HANG or RAISE; missing means UP), STATE_DIR (execution and cancel records), PLANTED_* (secrets the
tests look for everywhere they must not be), LOG_LEVEL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import capsule

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "DEBUG"), stream=sys.stderr,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")

STATE = Path(os.environ.get("STATE_DIR", "."))
HEALTH_FILE = Path(os.environ.get("HEALTH_FILE", STATE / "health"))
PLANTED_HEALTH = os.environ.get("PLANTED_HEALTH", "planted-health-secret")
PLANTED_CONFIG = os.environ.get("PLANTED_CONFIG", "planted-config-secret")
PLANTED_RESULT = os.environ.get("PLANTED_RESULT", "planted-result-secret")
PLANTED_ONE_TIME = os.environ.get("PLANTED_ONE_TIME", "planted-one-time-key")


def record(name: str, line: str) -> None:
    with open(STATE / name, "a") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


agent = capsule.Agent(agent_code=os.environ["AGENT_CODE"], token=os.environ.get("CAPSULE_TOKEN"),
                      heartbeat_interval=1.0)
svc = agent.service(os.environ.get("SERVICE_CODE", "py-billing"), name="Python billing", version="1.4.0")
processed = 0


@svc.health(timeout=2.0)
async def health() -> capsule.Health:
    text = HEALTH_FILE.read_text().strip().upper() if HEALTH_FILE.exists() else "UP"
    if text == "HANG":
        await asyncio.sleep(3600)
    if text == "RAISE":
        raise RuntimeError("health probe exploded")
    details = {"processed": processed, "upstreamToken": PLANTED_HEALTH}
    return capsule.Health(capsule.HealthStatus(text), "queue drained" if text == "UP" else f"health file says {text}",
                          details)


svc.configs([
    capsule.Config("region", "eu-west-1"),
    capsule.Config("apiKey", sensitive=True, secret_ref="env:PLANTED_CONFIG"),
    capsule.Config("dbPassword", PLANTED_CONFIG),  # not marked sensitive: redacted by its key
])


@svc.action("flush-cache", label="Flush cache", timeout=30)
async def flush_cache(payload: Any, ctx: capsule.ActionContext) -> capsule.Result:
    global processed
    processed += 1
    record("executions", f"flush-cache {ctx.command_id}")
    password = payload.get("password", "") if isinstance(payload, dict) else ""
    return capsule.Result.ok("cache flushed", data={"flushed": 12, "receivedInputChars": len(password),
                                                    "newSecret": PLANTED_RESULT})


@svc.action("set-count", danger="MEDIUM", input_schema={
    "type": "object", "required": ["count"], "additionalProperties": False,
    "properties": {"count": {"type": "integer", "minimum": 0, "maximum": 10}}})
def set_count(payload: Any, ctx: capsule.ActionContext) -> capsule.Result:
    record("executions", f"set-count {ctx.command_id} {payload['count']}")
    return capsule.Result.ok(f"count set to {payload['count']}")


@svc.action("fail-always", label="Fail")
async def fail_always(payload: Any, ctx: capsule.ActionContext) -> capsule.Result:
    return capsule.Result.failed("quota_exceeded", "this action always fails")


@svc.action("explode")
def explode(payload: Any, ctx: capsule.ActionContext) -> None:
    raise RuntimeError("the handler blew up")


@svc.action("slow", timeout=120)
async def slow(payload: Any, ctx: capsule.ActionContext) -> capsule.Result:
    record("executions", f"slow {ctx.command_id}")
    await asyncio.sleep(payload.get("seconds", 1) if isinstance(payload, dict) else 1)
    return capsule.Result.ok("slow task done")


@svc.action("wait-for-cancel", timeout=120)
async def wait_for_cancel(payload: Any, ctx: capsule.ActionContext) -> capsule.Result:
    record("executions", f"wait-for-cancel {ctx.command_id}")
    try:
        while not ctx.cancelled:
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        pass
    record("cancels", f"{ctx.command_id} cancelled={ctx.cancelled} reason={ctx.cancel_reason}")
    return capsule.Result.ok("stopped")


@svc.action("wait-for-cancel-sync", timeout=120)
def wait_for_cancel_sync(payload: Any, ctx: capsule.ActionContext) -> capsule.Result:
    record("executions", f"wait-for-cancel-sync {ctx.command_id}")
    ctx.wait_cancelled(60)
    record("cancels", f"{ctx.command_id} cancelled={ctx.cancelled} reason={ctx.cancel_reason}")
    return capsule.Result.ok("stopped")


@svc.action("huge")
async def huge(payload: Any, ctx: capsule.ActionContext) -> capsule.Result:
    return capsule.Result.ok("here is a lot", data={"blob": "x" * 100_000})


@svc.action("issue-key", one_time_result_fields=["privateKey"])
async def issue_key(payload: Any, ctx: capsule.ActionContext) -> capsule.Result:
    return capsule.Result.ok("key issued", data={"keyId": "k-1", "privateKey": PLANTED_ONE_TIME})


async def main() -> None:
    started = time.monotonic()
    await agent.start()
    # The host's own startup goes on at once, whether or not a broker is reachable.
    record("host", f"started after {time.monotonic() - started:.3f} s")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await agent.stop()


if __name__ == "__main__":
    asyncio.run(main())
