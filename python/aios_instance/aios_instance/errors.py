"""How failures in user code become gRPC status messages."""

from __future__ import annotations

import json
import logging
import os
import traceback
from typing import Any

import grpc

__all__ = [
    "BlockError",
    "InvalidArgument",
    "RpcAbort",
    "Unavailable",
    "describe_error",
    "failed_message",
    "raised_message",
    "refused_message",
]

log = logging.getLogger("aios_instance")

_SDK_DIR = os.path.dirname(os.path.abspath(__file__))
_MAX_ERROR_CHARS = 2000
_TRACE_FRAMES = 3


class RpcAbort(Exception):
    """Raised inside the SDK to end an RPC with a gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BlockError(Exception):
    """Raise from block code to end the call with a chosen gRPC status instead of ``INTERNAL``.

    ``on_preprocess``, ``on_data`` (also while a returned generator is being iterated), ``management`` and
    ``on_update`` may raise it; the call ends with ``code`` and exactly ``message`` (truncated to 2000
    characters), without the ``"<method> raised ..."`` prefix and traceback summary other exceptions get::

        raise BlockError(grpc.StatusCode.FAILED_PRECONDITION, "load a model first")

    The subclasses :class:`Unavailable` and :class:`InvalidArgument` cover the common cases.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        if not isinstance(code, grpc.StatusCode):
            raise TypeError(f"BlockError code must be a grpc.StatusCode, got {type(code).__name__}")
        if code == grpc.StatusCode.OK:
            raise ValueError("BlockError code must be an error status, not OK")
        super().__init__(message)
        self.code = code
        self.message = str(message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}, {self.message!r})"


class Unavailable(BlockError):
    """``UNAVAILABLE``: a backend the block depends on cannot be reached right now (the call may be retried)."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.UNAVAILABLE, message)


class InvalidArgument(BlockError):
    """``INVALID_ARGUMENT``: the caller's input is wrong (retrying the same input will fail again)."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, message)


def block_error_abort(method: str, exc: BlockError) -> RpcAbort:
    """The ``RpcAbort`` a ``BlockError`` raised by user ``method`` ends the call with."""
    log.debug("%s raised %s (%s): %s", method, type(exc).__name__, exc.code.name, exc.message)
    return RpcAbort(exc.code, _truncate(exc.message))


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


def refused_message(method: str, err: Any) -> str:
    """``"<method> refused the input: <err>"``."""
    return _truncate(f"{method} refused the input: {describe_error(err)}")
