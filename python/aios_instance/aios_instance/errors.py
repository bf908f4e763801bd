"""How failures in user code become gRPC status messages."""

from __future__ import annotations

import json
import os
import traceback
from typing import Any

import grpc

__all__ = ["RpcAbort", "describe_error", "raised_message", "failed_message"]

_SDK_DIR = os.path.dirname(os.path.abspath(__file__))
_MAX_ERROR_CHARS = 2000
_TRACE_FRAMES = 3


class RpcAbort(Exception):
    """Raised inside the SDK to end an RPC with a gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def traceback_summary(exc: BaseException, frames: int = _TRACE_FRAMES) -> str:
    """``file:line in func`` for the last ``frames`` frames of ``exc``'s traceback outside this SDK."""
    entries = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(f.filename).startswith(_SDK_DIR + os.sep)
    ]
    return "; ".join(f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in entries[-frames:])


def raised_message(method: str, exc: BaseException) -> str:
    """``"<method> raised <Type>: <msg> [at file:line in func; ...]"``."""
    text = _truncate(f"{method} raised {type(exc).__name__}: {exc}")
    summary = traceback_summary(exc)
    return f"{text} [at {summary}]" if summary else text


def describe_error(err: Any) -> str:
    """The text of the ``err`` in a ``(False, err)`` return."""
    if isinstance(err, BaseException):
        return f"{type(err).__name__}: {err}"
    if isinstance(err, str):
        return err
    try:
        return json.dumps(err, default=str)
    except (TypeError, ValueError):
        return repr(err)


def failed_message(method: str, err: Any) -> str:
    """``"<method> failed: <err>"``."""
    return _truncate(f"{method} failed: {describe_error(err)}")
