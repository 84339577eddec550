"""The embedded Capsule agent: registers services, heartbeats their health, reports configuration
and runs the declared actions operators trigger. Mirrors the Swift SDK (`CapsuleAgentKit`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from . import wire
from .errors import LedgerUnavailable, validate_identifier
from .home import BrokerEndpoints, BrokerUnknown, Home, KeyPair
from .ledger import FINISHED, MAX_ENTRIES, Ledger
from .link import Cancel, Dispatch, Link, LinkEvent, Welcome
from .log import Repeats
from .redact import redact
from .service import Action, ActionContext, Result, Service

__all__ = ["Agent"]

log = logging.getLogger("capsule.agent")

RESOLVE_RETRY_SECONDS = 2.0
DEFAULT_TTL_SECONDS = 300.0
#: A health provider may take at most this share of the heartbeat interval, so a slow one can
#: never make a heartbeat late.
HEALTH_SHARE_OF_INTERVAL = 0.5


@dataclass
class _Running:
    task: asyncio.Task[None]
    context: ActionContext


def _failure(command_id: str, code: str, message: str) -> dict[str, Any]:
    return {"commandId": command_id, "success": False, "error": {"code": code, "message": message}}


def result_body(command_id: str, outcome: Any, one_time_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """The `command.result` body for what a handler returned: redacted (except the declared
    one-time fields, which the broker shows once and never stores) and capped."""
    if outcome is None:
        result = Result.ok()
    elif isinstance(outcome, Result):
        result = outcome
    elif isinstance(outcome, str):
        result = Result.ok(outcome)
    elif isinstance(outcome, dict):
        result = Result.ok(data=outcome)
    else:
        return _failure(command_id, "handler_error",
                        f"the handler returned {type(outcome).__name__}; return capsule.Result, a dict, a str or None")
    body: dict[str, Any] = {"commandId": command_id, "success": result.success}
    if result.message is not None:
        body["message"] = result.message
    if result.data is not None:
        data = result.data
        if isinstance(data, dict) and one_time_fields:
            body["data"] = {key: value if key in one_time_fields else redact(value, key) for key, value in data.items()}
        else:
            body["data"] = redact(data)
    if not result.success:
        code = result.error_code or "handler_error"
        body["error"] = {"code": code, "message": result.error_message or result.message or code}
    return wire.cap_result(body)


class Agent:
    """One agent process governing one or more services.

    ```python
    agent = capsule.Agent(agent_code="billing", token=os.environ.get("CAPSULE_TOKEN"))
    svc = agent.service("billing-bridge", name="Billing bridge", version="1.4.0")
    agent.run()            # or: await agent.start() ... await agent.stop()
    ```

    Starting never blocks or fails because the broker is unreachable: the agent keeps retrying
    in the background (jittered back-off) while the host goes on.
    """

    def __init__(self, agent_code: str, *, home: str | os.PathLike[str] | None = None, token: str | None = None,
                 router: str | None = None, ingest: str | None = None, broker_key: str | None = None,
                 heartbeat_interval: float = 30.0, max_ledger_entries: int = MAX_ENTRIES,
                 max_handler_threads: int = 16) -> None:
        self.agent_code = validate_identifier("agent code", agent_code)
        if token is not None and (not isinstance(token, str) or not token.strip()):
            token = None
        if heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive")
        self.home = Home(home)
        self._token = token
        self._router = router
        self._ingest = ingest
        self._broker_key = broker_key
        self._interval = float(heartbeat_interval)
        self._max_ledger_entries = max_ledger_entries
        self._max_handler_threads = max_handler_threads
        self.services: dict[str, Service] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._link: Link | None = None
        self._ledger: Ledger | None = None
        self._main: asyncio.Task[None] | None = None
        self._running: dict[str, _Running] = {}
        self._handlers: concurrent.futures.ThreadPoolExecutor | None = None
        self._probes: concurrent.futures.ThreadPoolExecutor | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._repeats = Repeats(log)
        self.agent_id: str | None = None

    # MARK: declaration

    def service(self, code: str, *, name: str | None = None, version: str = "0.0.0",
                runtime: str = "python") -> Service:
        """Declares a service this agent governs; configure it with its decorators."""
        if self._loop is not None:
            raise RuntimeError("declare services before starting the agent")
        if code in self.services:
            raise ValueError(f"service {code!r} is already declared on this agent")
        service = Service(code, name=name, version=version, runtime=runtime)
        self.services[service.code] = service
        return service

    @property
    def dropped_stale(self) -> int:
        """Heartbeats discarded instead of sent late, since start."""
        return self._link.dropped_stale if self._link is not None else 0

    @property
    def hello_refused(self) -> str | None:
        """The error code of a final refusal of this agent's hello, if there was one."""
        return self._link.hello_refused if self._link is not None else None

    # MARK: asyncio

    async def start(self) -> None:
        """Starts the agent on the running event loop and returns at once. Handlers run on this loop
        (sync ones in the agent's threads)."""
        if self._loop is not None:
            raise RuntimeError("the agent is already started")
        if not self.services:
            log.warning("Agent %s governs no services.", self.agent_code)
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._handlers = concurrent.futures.ThreadPoolExecutor(self._max_handler_threads, "capsule-handler")
        self._probes = concurrent.futures.ThreadPoolExecutor(max(1, len(self.services)), "capsule-health")
        self._ledger = Ledger(self.home.ledger_file(self.agent_code), self._max_ledger_entries)
        self._ledger.load()
        self._main = self._loop.create_task(self._govern(), name=f"capsule-agent-{self.agent_code}")

    async def stop(self, grace: float = 5.0) -> None:
        """Stops the agent: running handlers get up to `grace` seconds to finish and report, then
        are cancelled (they are reported `agent_restarted` after the next start); sockets close."""
        if self._loop is None:
            return
        self._stopping = True
        if self._main is not None:
            self._main.cancel()
            await asyncio.gather(self._main, return_exceptions=True)
        tasks = [running.task for running in self._running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for running in list(self._running.values()):
            running.context._cancel("agent stopping")
            running.task.cancel()
        if self._running:
            await asyncio.wait([running.task for running in self._running.values()], timeout=1.0)
        if self._link is not None:
            self._link.stop()
            await asyncio.get_running_loop().run_in_executor(None, self._link.join, 5.0)
        if self._ledger is not None:
            self._ledger.close()
        for executor in (self._handlers, self._probes):
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
        self._loop = None
        self._link = None
        self._main = None

    # MARK: blocking and threaded use

    def run(self) -> None:
        """Runs the agent on a loop of its own in this thread until SIGINT or SIGTERM (when called
        from the main thread) or `request_stop()`."""
        asyncio.run(self._run_until_stopped(install_signals=threading.current_thread() is threading.main_thread()))

    def start_background(self) -> None:
        """Runs the agent on its own loop in a background thread and returns at once; for hosts
        that are not asyncio programs. Stop it with `stop_background()`."""
        if self._thread is not None:
            raise RuntimeError("the agent is already running in the background")
        started = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run_until_stopped(False, started)),
                                        name=f"capsule-agent-{self.agent_code}", daemon=True)
        self._thread.start()
        started.wait(10.0)

    def stop_background(self, timeout: float = 10.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def request_stop(self) -> None:
        """Asks `run()` or the background agent to stop; safe from any thread or a signal handler."""
        loop, event = self._loop, self._stop_requested
        if loop is not None and event is not None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass

    def __enter__(self) -> Agent:
        self.start_background()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_background()

    async def _run_until_stopped(self, install_signals: bool, started: threading.Event | None = None) -> None:
        self._stop_requested = asyncio.Event()
        await self.start()
        loop = asyncio.get_running_loop()
        if install_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self._stop_requested.set)
        if started is not None:
            started.set()
        try:
            await self._stop_requested.wait()
        finally:
            await self.stop()

    # MARK: governing

    async def _govern(self) -> None:
        endpoints, keys = await self._resolve()
        manifests = await self._manifests([])
        self._link = Link(self.agent_code, self._token, endpoints, keys, manifests, self._deliver)
        self._link.start()
        await self._heartbeats(manifests)

    async def _resolve(self) -> tuple[BrokerEndpoints, KeyPair]:
        while True:
            try:
                endpoints = self.home.resolve_broker(self._router, self._ingest, self._broker_key)
                keys = self.home.load_or_create_key_pair(f"agent-{self.agent_code}")
                if self._repeats.clear("resolve"):
                    log.info("Broker found at %s.", endpoints.router)
                return endpoints, keys
            except (BrokerUnknown, OSError, ValueError) as error:
                self._repeats.log_first("resolve", logging.WARNING, "Broker not known yet (%s); retrying.", error)
            await asyncio.sleep(RESOLVE_RETRY_SECONDS)

    async def _manifests(self, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            manifests = [await service.manifest() for service in self.services.values()]
            self._repeats.clear("configs")
            return manifests
        except Exception as error:  # noqa: BLE001 - a config function failing must not stop heartbeats
            self._repeats.log_first("configs", logging.WARNING, "A config function failed (%s: %s); keeping the last "
                                    "reported configuration.", type(error).__name__, error)
            return previous

    async def _heartbeats(self, manifests: list[dict[str, Any]]) -> None:
        assert self._link is not None
        while True:
            started = time.time()
            manifests = await self._manifests(manifests)
            self._link.update_manifests(manifests)
            interval = self._interval
            samples = await asyncio.gather(*(self._sample(service, interval) for service in self.services.values()))
            self._link.heartbeat(sorted(samples, key=lambda sample: str(sample["code"])), interval, started)
            await asyncio.sleep(max(0.05, interval - (time.time() - started)))

    async def _sample(self, service: Service, interval: float) -> dict[str, Any]:
        health = await service.sample_health(self._probes, interval * HEALTH_SHARE_OF_INTERVAL)
        return {"code": service.code, "health": health.to_wire(), "sampledAt": wire.now_ms()}

    # MARK: events from the link thread

    def _deliver(self, event: LinkEvent) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._on_event, event)
        except RuntimeError:
            pass  # the loop is closed: the host is shutting down

    def _on_event(self, event: LinkEvent) -> None:
        if isinstance(event, Welcome):
            self.agent_id = event.agent_id
            self._interval = event.heartbeat_seconds
        elif isinstance(event, Dispatch):
            self._dispatch(event.body)
        elif isinstance(event, Cancel):
            running = self._running.get(event.command_id)
            if running is not None:
                log.info("Command %s cancelled: %s.", event.command_id, event.reason)
                running.context._cancel(event.reason)
                if not running.context._sync:
                    running.task.cancel()

    # MARK: commands

    def _dispatch(self, body: dict[str, Any]) -> None:
        assert self._loop is not None and self._link is not None and self._ledger is not None
        if self._stopping:
            return
        command_id = str(body["commandId"])
        if command_id in self._running:
            self._link.acknowledge(command_id)  # redelivered while it runs
            return
        known = self._ledger.lookup(command_id)
        if known is not None and known.state == FINISHED and known.result is not None:
            self._link.send_result(known.result)  # redelivered after it finished: the same result again
            return
        try:
            self._ledger.begin(command_id)
        except LedgerUnavailable as error:
            log.error("Refused command %s: the command ledger is unavailable (%s).", command_id, error)
            self._link.send_result(_failure(command_id, "ledger_unavailable",
                                            f"the agent cannot record commands, so it runs none: {error}"))
            return
        self._link.acknowledge(command_id)
        expires = body.get("expiresAt")
        if not isinstance(expires, (int, float)) or isinstance(expires, bool):
            expires = (time.time() + DEFAULT_TTL_SECONDS) * 1000
        service_code, action_name = str(body.get("serviceCode", "")), str(body.get("action", ""))
        context = ActionContext(command_id, service_code, action_name, float(expires))
        service = self.services.get(service_code)
        action = service.actions.get(action_name) if service is not None else None
        context._sync = action is not None and not inspect.iscoroutinefunction(action.handler)
        task = self._loop.create_task(self._execute(context, service, action, body.get("payload", {})))
        self._running[command_id] = _Running(task, context)

    async def _execute(self, context: ActionContext, service: Service | None, action: Action | None,
                       payload: Any) -> None:
        assert self._loop is not None
        command_id = context.command_id
        fields: tuple[str, ...] = ()
        try:
            if service is None:
                body = _failure(command_id, "unknown_service", f"this agent does not govern {context.service_code}")
            elif action is None:
                body = _failure(command_id, "unknown_action", f"{service.code} has no action {context.action}")
            else:
                fields = action.one_time_result_fields
                body = await self._run_handler(action, payload, context)
        except asyncio.CancelledError:
            if self._stopping:
                return  # stays running in the ledger: reported agent_restarted after the next start
            body = _failure(command_id, "cancelled", context.cancel_reason or "cancelled")
        finally:
            self._running.pop(command_id, None)
        if self._stopping and context.cancelled:
            return
        if not context.cancelled and self._link is not None:
            self._link.send_result(body)
        if self._ledger is not None:
            self._ledger.finish(command_id, body, fields)

    async def _run_handler(self, action: Action, payload: Any, context: ActionContext) -> dict[str, Any]:
        assert self._loop is not None
        command_id = context.command_id
        try:
            if inspect.iscoroutinefunction(action.handler):
                outcome = await action.handler(payload, context)
            else:
                outcome = await self._loop.run_in_executor(self._handlers, action.handler, payload, context)
                if inspect.isawaitable(outcome):
                    outcome = await outcome
            return result_body(command_id, outcome, action.one_time_result_fields)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - a failing handler is a FAILED command
            # Only the type goes to the log: the message may quote the payload.
            log.warning("The handler of %s raised %s.", action.name, type(error).__name__)
            return wire.cap_result(_failure(command_id, "handler_error", f"{type(error).__name__}: {error}"))
