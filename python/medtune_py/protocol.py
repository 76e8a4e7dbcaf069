"""The NDJSON protocol every helper speaks on stdout.

One JSON object per line: ``progress``, ``log``, ``result`` (exactly one, at the end) or ``error``.
Anything else a helper (or a library it calls) prints goes to stderr, so stdout stays machine-readable.
"""
from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

_stdout = sys.stdout
# Libraries print freely; keep their output off the protocol stream.
sys.stdout = sys.stderr

_last_progress = 0.0


def emit(event: str, **fields: Any) -> None:
    _stdout.write(json.dumps({"event": event, **fields}, ensure_ascii=False, default=str) + "\n")
    _stdout.flush()


def progress(phase: str, done: int | float | None = None, total: int | float | None = None, *,
             unit: str | None = None, message: str | None = None, every: float = 0.2, force: bool = False) -> None:
    """Reports progress, at most every ``every`` seconds unless ``force`` (or the phase is complete)."""
    global _last_progress
    now = time.monotonic()
    if not force and total is not None and done is not None and done < total and now - _last_progress < every:
        return
    _last_progress = now
    fields: dict[str, Any] = {"phase": phase}
    if done is not None:
        fields["done"] = done
    if total is not None:
        fields["total"] = total
    if unit:
        fields["unit"] = unit
    if message:
        fields["message"] = message
    emit("progress", **fields)


def log(message: str, level: str = "info") -> None:
    emit("log", level=level, message=message)


def result(**fields: Any) -> None:
    emit("result", **fields)


class HelperError(Exception):
    """An expected failure with a code, a message and what to do next."""

    def __init__(self, code: str, message: str, next: str | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.next = next
        self.details = details or []


def fail(code: str, message: str, next: str | None = None, details: list[str] | None = None) -> NoReturn:
    raise HelperError(code, message, next, details)


def run(main: Callable[[list[str]], int | None]) -> None:
    """Runs a helper's main, turning exceptions into one ``error`` event and a non-zero exit."""
    try:
        code = main(sys.argv[1:])
    except HelperError as err:
        fields: dict[str, Any] = {"code": err.code, "message": err.message}
        if err.next:
            fields["next"] = err.next
        if err.details:
            fields["details"] = err.details
        emit("error", **fields)
        sys.exit(2)
    except KeyboardInterrupt:
        emit("error", code="INTERRUPTED", message="interrupted")
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - the last line of defence: report, never a bare trace
        traceback.print_exc(file=sys.stderr)
        emit("error", code="INTERNAL", message=f"{type(err).__name__}: {err}",
             details=traceback.format_exc().strip().splitlines()[-6:])
        sys.exit(1)
    sys.exit(code or 0)
