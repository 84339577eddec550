"""A small Python service governed by Capsule: the Python third of `make demo`.

It pretends to work through a queue of invoices in a background thread. Its health comes from
the queue (DEGRADED when too many invoices failed) unless the file `<state>/health` says UP,
DEGRADED or DOWN. It reports a config with a secretRef and declares two actions, one of which
needs `--confirm`.

    CAPSULE_HOME=... CAPSULE_TOKEN=$(capsulectl token create --name py --agent-code demo-python) \\
        python billing_worker.py

Environment: AGENT_CODE (default demo-python), CAPSULE_TOKEN (first start only), CAPSULE_HOME,
BILLING_STATE (default <home>/billing-worker), HEARTBEAT_SECONDS (until the broker says otherwise).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import capsule

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
home = Path(os.environ.get("CAPSULE_HOME", "~/.capsule")).expanduser()
state = Path(os.environ.get("BILLING_STATE", home / "billing-worker"))
state.mkdir(parents=True, exist_ok=True)


class Queue:
    """The service's own work, shared between its worker thread and the Capsule handlers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending = 20
        self.processed = 0
        self.failed = 0

    def work_forever(self) -> None:
        while True:
            time.sleep(0.5)
            with self.lock:
                if random.random() < 0.3:
                    self.pending += 1
                if self.pending:
                    self.pending -= 1
                    if random.random() < 0.05:
                        self.failed += 1
                    else:
                        self.processed += 1


queue = Queue()
agent = capsule.Agent(agent_code=os.environ.get("AGENT_CODE", "demo-python"), home=home,
                      token=os.environ.get("CAPSULE_TOKEN"),
                      heartbeat_interval=float(os.environ.get("HEARTBEAT_SECONDS", "30")))
svc = agent.service("billing-worker", name="Billing worker (Python)", version="0.3.0")


@svc.health(timeout=2.0)
def health() -> capsule.Health:
    override = state / "health"
    with queue.lock:
        details = {"pending": queue.pending, "processed": queue.processed, "failed": queue.failed}
        failed = queue.failed
    if override.exists():
        text = override.read_text().strip().upper()
        return capsule.Health(capsule.HealthStatus(text), f"health file says {text}", details)
    if failed > 5:
        return capsule.Health.degraded(f"{failed} invoices failed; run retry-failed", details)
    return capsule.Health.up("invoices flowing", details)


svc.configs([
    capsule.Config("region", "eu-west-1"),
    capsule.Config("batchSize", 50),
    capsule.Config("apiKey", sensitive=True, secret_ref="env:BILLING_API_KEY"),
])


@svc.action("retry-failed", label="Retry failed invoices", description="Puts failed invoices back on the queue.",
            input_schema={"type": "object", "additionalProperties": False,
                          "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 1000}}},
            timeout=60)
async def retry_failed(payload: Any, ctx: capsule.ActionContext) -> capsule.Result:
    limit = payload.get("limit", 1000) if isinstance(payload, dict) else 1000
    with queue.lock:
        retried = min(queue.failed, limit)
        queue.failed -= retried
        queue.pending += retried
    return capsule.Result.ok(f"{retried} invoices queued again", data={"retried": retried})


@svc.action("purge-queue", label="Purge queue", description="Drops every pending invoice.", danger="HIGH",
            requires_confirmation=True, timeout=30)
def purge_queue(payload: Any, ctx: capsule.ActionContext) -> capsule.Result:
    with queue.lock:
        dropped, queue.pending = queue.pending, 0
    return capsule.Result.ok(f"dropped {dropped} pending invoices", data={"dropped": dropped})


if __name__ == "__main__":
    threading.Thread(target=queue.work_forever, name="billing-queue", daemon=True).start()
    agent.run()  # until SIGINT or SIGTERM; never blocked by an unreachable broker
