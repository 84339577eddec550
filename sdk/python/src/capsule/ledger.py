"""The command ledger: every command id this agent has seen, on disk, so none ever runs twice.

The file is `<home>/data/agent-<code>-commands.jsonl`, one JSON object a line, appended:

    {"id": "cmd_…", "state": "running", "at": 1718006500002}
    {"id": "cmd_…", "state": "finished", "at": 1718006500107, "result": {…command.result body…}}

The last line for an id wins; ids keep the order of their first line. A command is recorded
(written and fsynced) *before* its handler starts; one the ledger cannot record is not run. A
command still `running` when the ledger is loaded was interrupted by the agent's death and is
answered `agent_restarted`. At most `max_entries` ids are kept (the oldest by first sight go
first), and the file is rewritten from memory when it holds more than twice the lines or
bytes needed, so each command costs O(1) amortised.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .errors import LedgerUnavailable
from .redact import redact
from .wire import encode_json, now_ms

__all__ = ["Ledger", "Entry", "RUNNING", "FINISHED", "MAX_ENTRIES"]

RUNNING = "running"
FINISHED = "finished"
MAX_ENTRIES = 10_000
_SLACK_BYTES = 1 << 20

log = logging.getLogger("capsule.ledger")


@dataclass
class Entry:
    state: str
    result: dict[str, Any] | None = None
    line_bytes: int = 0


def restarted_result(command_id: str) -> dict[str, Any]:
    return {"commandId": command_id, "success": False,
            "error": {"code": "agent_restarted", "message": "the agent restarted while the command ran"}}


def stored_result(result: dict[str, Any], one_time_fields: Iterable[str] = ()) -> dict[str, Any]:
    """The form of a result kept on disk: redacted, without the one-time fields."""
    stored = dict(result)
    data = stored.get("data")
    if isinstance(data, dict):
        removed = set(one_time_fields)
        data = {key: value for key, value in data.items() if key not in removed}
    if "data" in stored:
        stored["data"] = redact(data)
    return stored


class Ledger:
    """Not thread-safe: used from the agent's event loop only."""

    def __init__(self, path: Path | None, max_entries: int = MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.path = path
        self.max_entries = max_entries
        self.entries: dict[str, Entry] = {}
        self._lines = 0
        self._file_bytes = 0
        self._live_bytes = 0
        self._fd: int | None = None
        self._unreadable: str | None = None

    # MARK: loading

    def load(self) -> None:
        """Reads the file; commands left running become finished with `agent_restarted`.
        Never raises: a ledger that cannot be read or written makes every new command fail with
        `ledger_unavailable` instead."""
        if self.path is None:
            return
        interrupted: list[str] = []
        try:
            with open(self.path, "rb") as handle:
                for number, raw in enumerate(handle, 1):
                    self._replay(raw, number)
        except FileNotFoundError:
            pass
        except OSError as error:
            self._unreadable = f"cannot read {self.path}: {error.strerror or error}"
            log.error("The command ledger cannot be read (%s); every command will be refused.", self._unreadable)
            return
        for command_id, entry in self.entries.items():
            if entry.state == RUNNING:
                entry.state = FINISHED
                entry.result = restarted_result(command_id)
                interrupted.append(command_id)
        self._evict()
        if interrupted:
            log.warning("%d command(s) were running when the agent stopped; they will be reported agent_restarted.",
                        len(interrupted))
        try:
            self._compact()  # a clean file: no torn last line, interrupted commands recorded
        except OSError as error:
            log.warning("Could not rewrite the command ledger (%s); it stays as it is.", error.strerror or error)

    def _replay(self, raw: bytes, number: int) -> None:
        self._lines += 1
        self._file_bytes += len(raw)
        try:
            record = json.loads(raw)
            command_id = record["id"]
            state = record["state"]
            if not isinstance(command_id, str) or state not in (RUNNING, FINISHED):
                raise ValueError("bad record")
            result = record.get("result") if state == FINISHED else None
            if state == FINISHED and not isinstance(result, dict):
                raise ValueError("finished without a result")
        except (ValueError, KeyError, TypeError):
            log.warning("Skipped an unreadable line %d of the command ledger.", number)
            return
        self._put(command_id, Entry(state, result, len(raw)))

    # MARK: queries and updates

    def lookup(self, command_id: str) -> Entry | None:
        return self.entries.get(command_id)

    def begin(self, command_id: str) -> None:
        """Records a new command as running, durably. Raises LedgerUnavailable if it cannot."""
        if self._unreadable is not None:
            # Which commands already ran is unknown: refuse every command until a restart.
            raise LedgerUnavailable(self._unreadable)
        line = encode_json({"id": command_id, "state": RUNNING, "at": now_ms()}) + b"\n"
        self._append(line)
        self._put(command_id, Entry(RUNNING, None, len(line)))
        self._evict()
        self._maybe_compact()

    def finish(self, command_id: str, result: dict[str, Any], one_time_fields: Iterable[str] = ()) -> None:
        """Records a command's result (redacted, one-time fields removed). A failure is logged:
        the command then reads as interrupted after a restart, which is the truth on disk."""
        entry = self.entries.get(command_id)
        if entry is None:
            return  # evicted while it ran (10,000 newer commands): nothing to update
        stored = stored_result(result, one_time_fields)
        line = encode_json({"id": command_id, "state": FINISHED, "at": now_ms(), "result": stored}) + b"\n"
        try:
            self._append(line)
        except LedgerUnavailable as error:
            log.error("Could not record the result of %s in the ledger: %s", command_id, error)
        self._live_bytes -= entry.line_bytes
        entry.state, entry.result, entry.line_bytes = FINISHED, stored, len(line)
        self._live_bytes += len(line)
        self._maybe_compact()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # MARK: internals

    def _put(self, command_id: str, entry: Entry) -> None:
        old = self.entries.get(command_id)
        if old is not None:
            self._live_bytes -= old.line_bytes
            old.state, old.result, old.line_bytes = entry.state, entry.result, entry.line_bytes
        else:
            self.entries[command_id] = entry
        self._live_bytes += entry.line_bytes

    def _evict(self) -> None:
        while len(self.entries) > self.max_entries:
            oldest = next(iter(self.entries))
            self._live_bytes -= self.entries.pop(oldest).line_bytes

    def _open(self) -> int:
        assert self.path is not None
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def _append(self, line: bytes) -> None:
        if self.path is None:
            return
        try:
            fd = self._open()
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(28, "short write")
            os.fsync(fd)
        except OSError as error:
            self.close()  # reopened on the next command: the disk may have room by then
            raise LedgerUnavailable(f"cannot write {self.path}: {error.strerror or error}") from None
        self._lines += 1
        self._file_bytes += len(line)

    def _maybe_compact(self) -> None:
        if self._lines > 2 * self.max_entries or self._file_bytes > 2 * self._live_bytes + _SLACK_BYTES:
            try:
                self._compact()
            except OSError as error:
                log.warning("Could not compact the command ledger (%s); appending as before.", error.strerror or error)

    def _compact(self) -> None:
        """Rewrites the file from memory: one line per kept id, in first-seen order."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(self.path.name + ".tmp")
        lines = 0
        size = 0
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for command_id, entry in self.entries.items():
                record: dict[str, Any] = {"id": command_id, "state": entry.state}
                if entry.result is not None:
                    record["result"] = entry.result
                line = encode_json(record) + b"\n"
                if os.write(fd, line) != len(line):
                    raise OSError(28, "short write")
                entry.line_bytes = len(line)
                lines += 1
                size += len(line)
            os.fsync(fd)
        except OSError:
            os.close(fd)
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        os.close(fd)
        self.close()
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._lines, self._file_bytes, self._live_bytes = lines, size, size
