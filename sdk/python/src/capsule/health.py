"""Health reports and the sampling of health providers with a timeout."""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Union

from .redact import redact
from .wire import json_value, truncate_message

__all__ = ["HealthStatus", "Health", "HealthProvider", "HealthCheck"]


class HealthStatus(str, enum.Enum):
    """What a service reports about itself (design brief §2)."""

    UP = "UP"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Health:
    """One health sample: a status, an optional short message and free-form JSON details.

    Details are redacted (secret-looking keys become `[REDACTED]`) before they leave the process.
    """

    status: HealthStatus
    message: str | None = None
    details: Any = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "status", HealthStatus(self.status))
        except ValueError:
            raise ValueError(f"unknown health status {self.status!r}; use UP, DEGRADED, DOWN or UNKNOWN") from None
        if self.message is not None and not isinstance(self.message, str):
            raise ValueError("Health.message must be a string or None")
        object.__setattr__(self, "details", json_value(self.details, "details"))

    @classmethod
    def up(cls, message: str | None = None, details: Any = None) -> Health:
        return cls(HealthStatus.UP, message, details)

    @classmethod
    def degraded(cls, message: str | None = None, details: Any = None) -> Health:
        return cls(HealthStatus.DEGRADED, message, details)

    @classmethod
    def down(cls, message: str | None = None, details: Any = None) -> Health:
        return cls(HealthStatus.DOWN, message, details)

    @classmethod
    def unknown(cls, message: str | None = None, details: Any = None) -> Health:
        return cls(HealthStatus.UNKNOWN, message, details)

    def to_wire(self) -> dict[str, Any]:
        """The `HealthReport` body, redacted."""
        out: dict[str, Any] = {"status": self.status.value}
        if self.message is not None:
            out["message"] = truncate_message(self.message)
        if self.details is not None:
            out["details"] = redact(self.details)
        return out


HealthProvider = Callable[[], Union[Health, Awaitable[Health]]]


def _seconds(value: float) -> str:
    return f"{value:g}"


class HealthCheck:
    """Samples one provider: never takes longer than its limit, never runs two samples at once.

    A provider that raises, times out or returns something other than a `Health` gives
    `UNKNOWN` with a message. A sample still running from an earlier heartbeat is not started
    again (so a hung provider cannot pile up threads or tasks); the service reports UNKNOWN until
    it returns.
    """

    def __init__(self, provider: HealthProvider | None, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("a health timeout must be positive")
        self.provider = provider
        self.timeout = float(timeout)
        self._pending: asyncio.Future[Any] | concurrent.futures.Future[Any] | None = None

    async def sample(self, executor: concurrent.futures.Executor | None = None, limit: float | None = None) -> Health:
        """One sample, waiting at most `min(timeout, limit)` seconds."""
        if self.provider is None:
            return Health.unknown("no health provider")
        wait = self.timeout if limit is None else max(0.01, min(self.timeout, limit))
        if self._pending is not None and not self._pending.done():
            return Health.unknown(f"health check timed out after {_seconds(wait)} s (still running)")
        waitable: asyncio.Future[Any]
        if inspect.iscoroutinefunction(self.provider):
            waitable = asyncio.ensure_future(self.provider())
            self._pending = waitable
        else:
            # Submitted directly, so `_pending` tracks the thread itself: cancelling the asyncio
            # wrapper would not stop it, and a hung provider must not be started twice.
            thread = (executor or _fallback_executor()).submit(self._call_sync)
            waitable = asyncio.wrap_future(thread)
            self._pending = thread
        done, _ = await asyncio.wait({waitable}, timeout=wait)
        if not done:
            waitable.cancel()  # an async provider gets CancelledError; a thread runs on unobserved
            waitable.add_done_callback(_consume)
            return Health.unknown(f"health check timed out after {_seconds(wait)} s")
        future = waitable
        self._pending = None
        try:
            result = future.result()
            if inspect.isawaitable(result):  # a sync function that returned a coroutine
                result = await asyncio.wait_for(result, wait)
        except asyncio.CancelledError:
            return Health.unknown("health check was cancelled")
        except Exception as error:  # noqa: BLE001 - any failure of user code is a sample
            return Health.unknown(truncate_message(f"health check failed: {type(error).__name__}: {error}"))
        if not isinstance(result, Health):
            return Health.unknown(f"health provider returned {type(result).__name__}, expected capsule.Health")
        return result

    def _call_sync(self) -> Any:
        assert self.provider is not None
        return self.provider()


_FALLBACK: concurrent.futures.ThreadPoolExecutor | None = None


def _fallback_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _FALLBACK
    if _FALLBACK is None:
        _FALLBACK = concurrent.futures.ThreadPoolExecutor(4, "capsule-health")
    return _FALLBACK


def _consume(future: asyncio.Future[Any]) -> None:
    # Retrieve the outcome of an abandoned sample so asyncio does not log "exception never retrieved".
    if not future.cancelled():
        future.exception()
