"""Health providers never block the heartbeat: failures and timeouts give UNKNOWN with a message."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

import capsule
from capsule.health import HealthCheck


def sample(check: HealthCheck, limit: float | None = None) -> capsule.Health:
    return asyncio.run(check.sample(None, limit))


def test_async_and_sync_providers() -> None:
    async def async_up() -> capsule.Health:
        return capsule.Health.up("fine", {"depth": 3})

    assert sample(HealthCheck(async_up, 1.0)) == capsule.Health.up("fine", {"depth": 3})
    assert sample(HealthCheck(lambda: capsule.Health.degraded("slow"), 1.0)).status is capsule.HealthStatus.DEGRADED


def test_a_provider_that_raises_reports_unknown() -> None:
    def broken() -> capsule.Health:
        raise RuntimeError("disk on fire")

    health = sample(HealthCheck(broken, 1.0))
    assert health.status is capsule.HealthStatus.UNKNOWN
    assert health.message == "health check failed: RuntimeError: disk on fire"


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_provider_that_hangs_reports_unknown_within_its_timeout(kind: str) -> None:
    release = threading.Event()
    returned = threading.Event()

    async def hangs_async() -> capsule.Health:
        try:
            await asyncio.sleep(3600)
        finally:
            returned.set()
        return capsule.Health.up()

    def hangs_sync() -> capsule.Health:
        release.wait(30)
        returned.set()
        return capsule.Health.up()

    async def scenario() -> tuple[capsule.Health, bool]:
        check = HealthCheck(hangs_async if kind == "async" else hangs_sync, 0.2)
        health = await check.sample(executor)
        return health, returned.is_set()

    executor = concurrent.futures.ThreadPoolExecutor(1)
    try:
        health, provider_returned = asyncio.run(scenario())
        assert health.status is capsule.HealthStatus.UNKNOWN
        assert health.message == "health check timed out after 0.2 s"
        if kind == "sync":
            assert not provider_returned, "the sample came back while the provider was still blocked"
    finally:
        release.set()
        executor.shutdown(wait=False)


def test_a_provider_still_running_is_not_started_again() -> None:
    calls = 0
    release = threading.Event()

    def hangs() -> capsule.Health:
        nonlocal calls
        calls += 1
        release.wait(30)
        return capsule.Health.up()

    async def twice() -> tuple[capsule.Health, capsule.Health]:
        check = HealthCheck(hangs, 0.1)
        first = await check.sample()
        second = await check.sample()
        return first, second

    try:
        first, second = asyncio.run(twice())
        assert first.status is second.status is capsule.HealthStatus.UNKNOWN
        assert second.message is not None and "still running" in second.message
        assert calls == 1
    finally:
        release.set()


def test_the_limit_caps_a_long_declared_timeout() -> None:
    async def hangs() -> capsule.Health:
        await asyncio.sleep(3600)
        return capsule.Health.up()

    health = sample(HealthCheck(hangs, 60.0), limit=0.1)
    assert health.message == "health check timed out after 0.1 s"


def test_wrong_return_values_and_missing_provider() -> None:
    assert sample(HealthCheck(lambda: "UP", 1.0)).message == "health provider returned str, expected capsule.Health"
    assert sample(HealthCheck(None, 1.0)) == capsule.Health.unknown("no health provider")


def test_details_are_redacted_on_the_wire() -> None:
    health = capsule.Health.up("ok", {"depth": 3, "upstreamToken": "t-1", "conn": {"password": "p"}})
    assert health.to_wire() == {"status": "UP", "message": "ok",
                                "details": {"depth": 3, "upstreamToken": "[REDACTED]", "conn": {"password": "[REDACTED]"}}}
    with pytest.raises(ValueError, match="not a JSON value"):
        capsule.Health.up(details={"when": object()})
