"""A governed service: identity, health provider, configuration and declared actions."""

from __future__ import annotations

import datetime
import enum
import inspect
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, TypeVar, Union, overload

from .errors import validate_identifier
from .health import Health, HealthCheck, HealthProvider
from .redact import redact
from .wire import json_value

__all__ = ["Danger", "Config", "Result", "ActionContext", "Action", "Service", "ActionHandler", "ConfigSource"]

DEFAULT_HEALTH_TIMEOUT = 5.0
_MAX_TIMEOUT_SECONDS = 2**31 - 1


class Danger(str, enum.Enum):
    """An action's danger level (design brief §2)."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True)
class Config:
    """One configuration item the service reports.

    A `sensitive` item never carries a value: give `secret_ref` (where the secret lives, e.g.
    `env:BILLING_API_KEY` or `vault:billing`) instead. Values of other items are redacted by
    key (`Config("dbPassword", ...)` is sent as `[REDACTED]`).
    """

    key: str
    value: Any = None
    sensitive: bool = False
    secret_ref: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError("a config key must be a non-empty string")
        if self.sensitive and self.value is not None:
            raise ValueError(
                f"config {self.key!r} is sensitive, so it carries no value; "
                "pass secret_ref (e.g. 'env:NAME') to say where the secret lives"
            )
        if self.secret_ref is not None and not isinstance(self.secret_ref, str):
            raise ValueError(f"config {self.key!r}: secret_ref must be a string")
        object.__setattr__(self, "value", json_value(self.value, f"config {self.key}"))

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "sensitive": self.sensitive}
        if not self.sensitive and self.value is not None:
            out["value"] = redact(self.value, self.key)
        if self.secret_ref is not None:
            out["secretRef"] = self.secret_ref
        return out


@dataclass(frozen=True)
class Result:
    """What an action handler returns: `{success, message?, data?, error?{code, message}}`."""

    success: bool
    message: str | None = None
    data: Any = None
    error_code: str | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        if self.message is not None and not isinstance(self.message, str):
            raise ValueError("Result.message must be a string or None")
        if self.error_code is not None:
            validate_identifier("error code", self.error_code)
        object.__setattr__(self, "data", json_value(self.data, "data"))

    @classmethod
    def ok(cls, message: str | None = None, data: Any = None) -> Result:
        """A successful result."""
        return cls(True, message, data)

    @classmethod
    def failed(cls, code: str, message: str, data: Any = None) -> Result:
        """A failed result with a stable error code (e.g. `quota_exceeded`)."""
        return cls(False, message, data, code, message)


class ActionContext:
    """What a running handler knows about its command, and whether it was cancelled."""

    def __init__(self, command_id: str, service_code: str, action: str, expires_at_ms: float) -> None:
        self.command_id = command_id
        self.service_code = service_code
        self.action = action
        self.expires_at = datetime.datetime.fromtimestamp(expires_at_ms / 1000, tz=datetime.timezone.utc)
        self._expires_at_s = expires_at_ms / 1000
        self._cancelled = threading.Event()
        self.cancel_reason: str | None = None
        self._sync = False  # a sync handler runs in a thread: it sees `cancelled`, nothing interrupts it

    @property
    def cancelled(self) -> bool:
        """True once the operator cancelled the command or it expired. Safe to read from any thread."""
        return self._cancelled.is_set()

    def time_left(self) -> float:
        """Seconds until the command expires (negative once it has)."""
        return self._expires_at_s - time.time()

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Blocks (for sync handlers in their thread) until cancelled or `timeout`; returns `cancelled`."""
        return self._cancelled.wait(timeout)

    def _cancel(self, reason: str) -> None:
        if not self._cancelled.is_set():
            self.cancel_reason = reason
            self._cancelled.set()


ActionHandler = Callable[[Any, ActionContext], Union[Result, None, str, "dict[str, Any]", Awaitable[Any]]]
ConfigSource = Union[Iterable[Config], Callable[[], Union[Iterable[Config], Awaitable[Iterable[Config]]]]]
H = TypeVar("H", bound=Callable[..., Any])


@dataclass
class Action:
    """A declared action and its handler. Only declared actions can ever be run."""

    name: str
    handler: ActionHandler
    label: str
    description: str = ""
    danger: Danger = Danger.LOW
    requires_confirmation: bool = False
    input_schema: Any = None
    timeout: int | None = None
    one_time_result_fields: tuple[str, ...] = field(default_factory=tuple)

    def definition(self) -> dict[str, Any]:
        """The `ActionDefinition` of the manifest."""
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "dangerLevel": self.danger.value,
            "requiresConfirmation": self.requires_confirmation,
        }
        if self.input_schema is not None:
            out["inputSchema"] = self.input_schema
        if self.timeout is not None:
            out["timeoutSeconds"] = self.timeout
        if self.one_time_result_fields:
            out["oneTimeResultFields"] = list(self.one_time_result_fields)
        return out


def _check_handler(name: str, handler: Callable[..., Any]) -> None:
    if not callable(handler):
        raise TypeError(f"action {name!r}: the handler must be callable")
    try:
        inspect.signature(handler).bind(None, None)
    except TypeError:
        raise TypeError(f"action {name!r}: the handler must take two arguments (payload, ctx)") from None
    except ValueError:
        pass  # no signature available (a builtin); trust it


def _timeout(name: str, timeout: float | None) -> int | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout != int(timeout):
        raise ValueError(f"action {name!r}: timeout must be a whole number of seconds, got {timeout!r}")
    if not 1 <= timeout <= _MAX_TIMEOUT_SECONDS:
        raise ValueError(f"action {name!r}: timeout must be between 1 and {_MAX_TIMEOUT_SECONDS} seconds")
    return int(timeout)


class Service:
    """One governed service. Create it with `Agent.service(...)`."""

    def __init__(self, code: str, *, name: str | None = None, version: str = "0.0.0", runtime: str = "python") -> None:
        self.code = validate_identifier("service code", code)
        self.name = name if name is not None else code
        self.version = version
        self.runtime = runtime
        for label, value in (("name", self.name), ("version", self.version), ("runtime", self.runtime)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"service {code!r}: {label} must be a non-empty string")
        self.check = HealthCheck(None, DEFAULT_HEALTH_TIMEOUT)
        self.actions: dict[str, Action] = {}
        self._configs: ConfigSource = ()
        self._last_configs: list[dict[str, Any]] = []

    # MARK: health

    @overload
    def health(self, provider: H) -> H: ...

    @overload
    def health(self, *, timeout: float = DEFAULT_HEALTH_TIMEOUT) -> Callable[[H], H]: ...

    def health(self, provider: Any = None, *, timeout: float = DEFAULT_HEALTH_TIMEOUT) -> Any:
        """Sets the health provider, sync or async, returning a `Health`. Use as `@svc.health`
        or `@svc.health(timeout=2.0)`. A provider that raises or exceeds its timeout reports
        UNKNOWN with a message, and the heartbeat still goes out on time."""

        def register(function: H) -> H:
            if not callable(function):
                raise TypeError("the health provider must be callable")
            self.check = HealthCheck(function, timeout)
            return function

        return register(provider) if provider is not None else register

    # MARK: configs

    def configs(self, source: ConfigSource) -> None:
        """Sets the configuration: a list of `Config`, or a function (sync or async) returning one,
        called on every heartbeat so changes are reported."""
        if not callable(source):
            items = list(source)
            self._check_configs(items)
            self._configs = items
            self._last_configs = [item.to_wire() for item in items]
        else:
            self._configs = source

    def _check_configs(self, items: list[Any]) -> None:
        keys = set()
        for item in items:
            if not isinstance(item, Config):
                raise TypeError(f"service {self.code!r}: configs must be capsule.Config items, got {type(item).__name__}")
            if item.key in keys:
                raise ValueError(f"service {self.code!r}: config key {item.key!r} appears twice")
            keys.add(item.key)

    async def current_configs(self) -> list[dict[str, Any]]:
        """The config items as sent; a failing config function keeps the last good list."""
        if not callable(self._configs):
            return self._last_configs
        produced = self._configs()
        if inspect.isawaitable(produced):
            produced = await produced
        items = list(produced)
        self._check_configs(items)
        self._last_configs = [item.to_wire() for item in items]
        return self._last_configs

    # MARK: actions

    def action(
        self,
        name: str,
        *,
        label: str | None = None,
        description: str = "",
        danger: Danger | str = Danger.LOW,
        requires_confirmation: bool = False,
        input_schema: dict[str, Any] | None = None,
        timeout: float | None = None,
        one_time_result_fields: Iterable[str] | None = None,
    ) -> Callable[[H], H]:
        """Declares an action; decorate its handler `(payload, ctx)`, sync or async.

        `timeout` (whole seconds) is the command's time to live at the broker (default 300 s);
        `input_schema` is a JSON Schema the broker checks every payload against before the
        handler ever sees it; `one_time_result_fields` are top-level keys of the result's `data`
        that the broker shows the operator once and never stores (the SDK never writes them to
        its ledger, and does not redact them)."""
        validate_identifier("action name", name)
        if name in self.actions:
            raise ValueError(f"service {self.code!r} already declares action {name!r}")
        try:
            level = Danger(danger.upper() if isinstance(danger, str) else danger)
        except ValueError:
            raise ValueError(f"action {name!r}: danger must be LOW, MEDIUM, HIGH or CRITICAL, got {danger!r}") from None
        schema = json_value(input_schema, f"action {name} input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise ValueError(f"action {name!r}: input_schema must be a JSON Schema object")
        fields = tuple(one_time_result_fields or ())
        for item in fields:
            if not isinstance(item, str) or not item:
                raise ValueError(f"action {name!r}: one_time_result_fields must be non-empty strings")
        if label is not None and not isinstance(label, str):
            raise ValueError(f"action {name!r}: label must be a string")
        seconds = _timeout(name, timeout)

        def register(handler: H) -> H:
            _check_handler(name, handler)
            self.actions[name] = Action(
                name=name, handler=handler, label=label if label else name, description=description, danger=level,
                requires_confirmation=bool(requires_confirmation), input_schema=schema, timeout=seconds,
                one_time_result_fields=fields,
            )
            return handler

        return register

    # MARK: manifest

    async def manifest(self) -> dict[str, Any]:
        """The `ServiceManifest` as sent in a service report (sensitive values removed)."""
        return {
            "code": self.code,
            "name": self.name,
            "version": self.version,
            "runtime": self.runtime,
            "configs": await self.current_configs(),
            "actions": [action.definition() for action in self.actions.values()],
        }

    async def sample_health(self, executor: Any = None, limit: float | None = None) -> Health:
        return await self.check.sample(executor, limit)

