"""Runs a user's init class through begin/main/finish and reports every stage to the platform on stdout."""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys
import traceback
from types import FrameType
from typing import Any, Callable, NoReturn, Optional, Tuple

from .context import InitConfigError, InitContext

STAGE_PREFIX = "AIOS_INIT_STAGE "
STAGES = ("begin", "main", "finish")
TRACEBACK_FRAMES = 3

_THIS_FILE = os.path.normcase(os.path.abspath(__file__))


class InitTerminated(BaseException):
    """Raised inside the running stage when the process gets SIGTERM (e.g. the platform's timeout)."""


def _json_payload(payload: Any) -> Any:
    """``payload`` itself if it serialises to strict JSON, else its ``str()``."""
    try:
        json.dumps(payload, allow_nan=False)
        return payload
    except (TypeError, ValueError, OverflowError, RecursionError):
        return _safe_str(payload)


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the report
        try:
            return repr(value)
        except Exception:  # noqa: BLE001
            return f"<unprintable {type(value).__name__}>"


def stage_line(stage: str, ok: bool, payload: Any = None, message: str = "") -> str:
    """The exact line (without the newline) reported for one stage."""
    record = {"stage": stage, "ok": ok, "payload": _json_payload(payload), "message": message}
    return STAGE_PREFIX + json.dumps(record, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def report_stage(stage: str, ok: bool, payload: Any = None, message: str = "") -> None:
    """Print one stage line to stdout and flush.

    What the user printed before is flushed first, and the line is written preceded by a newline, so it starts
    a line of its own even when the user's last output did not end with one (the log may show blank lines).
    """
    line = stage_line(stage, ok, payload, message)
    try:
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    sys.stdout.flush()
    sys.stdout.write("\n" + line + "\n")
    sys.stdout.flush()


def _exception_type_name(exc: BaseException) -> str:
    t = type(exc)
    if t.__module__ in ("builtins", "__main__"):
        return t.__qualname__
    return f"{t.__module__}.{t.__qualname__}"


def describe_exception(exc: BaseException) -> str:
    """``"<ExceptionType>: <msg>"`` then the last frames of the traceback, one line each."""
    text = _safe_str(exc)
    head = f"{_exception_type_name(exc)}: {text}" if text else _exception_type_name(exc)
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if os.path.normcase(os.path.abspath(f.filename)) != _THIS_FILE
    ]
    if not frames:
        return head
    lines = [head, f"Traceback (last {min(len(frames), TRACEBACK_FRAMES)} frames):"]
    for f in frames[-TRACEBACK_FRAMES:]:
        where = f"  {os.path.basename(f.filename)}:{f.lineno} in {f.name}"
        lines.append(f"{where}: {f.line.strip()}" if f.line else where)
    return "\n".join(lines)


def _construct(user_class: Callable[..., Any], context: InitContext) -> Any:
    """``user_class(context)`` or, AIOS style, ``user_class(envs, block_data, cluster_data, k8s, mode)``.

    One named positional parameter besides ``self`` (and no ``*args``) gets the context; five get the AIOS
    arguments. A constructor taking ``*args`` (e.g. ``__init__(self, *args, **kwargs)``, typical of a class
    that forwards to a base class) is called the way AIOS calls it: the five AIOS arguments, positionally,
    provided it names at most five positional parameters itself. ``**kwargs`` alone changes nothing: AIOS
    passes no keywords.
    """
    try:
        sig = inspect.signature(user_class)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot inspect the constructor of {user_class!r}: {e}") from e
    params = list(sig.parameters.values())
    positional = [
        p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    var_positional = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)

    def aios_style() -> Any:
        return user_class(context.aios_envs(), context.block_data, context.cluster, None, context.mode)

    if len(positional) == 1 and not var_positional:
        return user_class(context)
    if len(positional) == 5 or (var_positional and len(positional) <= 5):
        return aios_style()
    name = getattr(user_class, "__qualname__", repr(user_class))
    raise TypeError(
        f"{name}.__init__ takes {len(positional)} positional parameters besides self; expected 1 (context) "
        "or 5 (envs, block_data, cluster_data, k8s, operating_mode), or *args (called with those 5)"
    )


def _check_result(stage: str, result: Any) -> Tuple[bool, Any]:
    if not isinstance(result, (tuple, list)) or len(result) != 2 or not isinstance(result[0], bool):
        raise TypeError(f"{stage}() must return (ok: bool, payload), got {_safe_str(result)[:200]}")
    return result[0], result[1]


def _on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    # A second SIGTERM kills the process outright, even if user code swallows the first exception.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise InitTerminated("received SIGTERM")


def run_init_container(user_class: Callable[..., Any], context: Optional[InitContext] = None) -> int:
    """Run the stages and print their lines; returns the exit status (0 only if all three stages were ok).

    ``context`` defaults to :meth:`InitContext.from_env`. :func:`execute_init_container` is this plus
    ``sys.exit``.
    """
    try:
        if context is None:
            context = InitContext.from_env()
    except InitConfigError as e:
        report_stage("begin", False, None, f"InitConfigError: {e}")
        return 1
    except BaseException as e:  # noqa: BLE001
        traceback.print_exc()
        report_stage("begin", False, None, describe_exception(e))
        return 1

    try:
        instance = _construct(user_class, context)
    except BaseException as e:  # noqa: BLE001 - SystemExit from user code is a failure too
        traceback.print_exc()
        report_stage("begin", False, None, describe_exception(e))
        return 1

    for stage in STAGES:
        try:
            method = getattr(instance, stage, None)
            if not callable(method):
                raise TypeError(f"{type(instance).__qualname__} has no {stage}() method")
            ok, payload = _check_result(stage, method())
        except BaseException as e:  # noqa: BLE001
            traceback.print_exc()
            report_stage(stage, False, None, describe_exception(e))
            return 1
        if not ok:
            report_stage(stage, False, payload, _safe_str(payload))
            return 1
        report_stage(stage, True, payload, "")
    return 0


def execute_init_container(user_class: Callable[..., Any]) -> NoReturn:
    """Entry point of an init program: build the context from the environment, run begin/main/finish,
    report each stage on stdout and exit 0 (all ok) or 1."""
    previous: Any = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        previous = None
    try:
        status = run_init_container(user_class)
    finally:
        if previous is not None:
            try:
                signal.signal(signal.SIGTERM, previous)
            except ValueError:
                pass
    sys.exit(status)


__all__ = [
    "InitTerminated",
    "STAGES",
    "STAGE_PREFIX",
    "describe_exception",
    "execute_init_container",
    "report_stage",
    "run_init_container",
    "stage_line",
]
