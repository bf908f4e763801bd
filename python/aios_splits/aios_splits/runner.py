"""Runs a user's splitter class through begin/main/finish and reports every stage to the platform on stdout."""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys
import traceback
from types import FrameType
from typing import Any, Callable, NoReturn, Optional, Tuple

from .context import SplitConfigError, SplitContext, _flush_then_write

STAGE_PREFIX = "AIOS_SPLIT_STAGE "
STAGES = ("begin", "main", "finish")
TRACEBACK_FRAMES = 3
#: Exit status after SIGTERM (128 + SIGTERM, what a shell reports for a process killed by it).
EXIT_TERMINATED = 128 + int(signal.SIGTERM)

_THIS_FILE = os.path.normcase(os.path.abspath(__file__))


class SplitTerminated(BaseException):
    """Raised inside the running stage when the process gets SIGTERM (the platform's ``timeout_s`` or a stop)."""


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the report
        try:
            return repr(value)
        except Exception:  # noqa: BLE001
            return f"<unprintable {type(value).__name__}>"


def stage_line(stage: str, ok: bool, message: str = "") -> str:
    """The exact line (without the newline) reported for one stage."""
    record = {"stage": stage, "ok": ok, "message": message}
    return STAGE_PREFIX + json.dumps(record, ensure_ascii=True, allow_nan=False)


def report_stage(stage: str, ok: bool, message: str = "") -> None:
    """Print one stage line to stdout, on a line of its own, after flushing the user's output."""
    _flush_then_write(stage_line(stage, ok, message))


def _exception_type_name(exc: BaseException) -> str:
    t = type(exc)
    if t.__module__ in ("builtins", "__main__"):
        return t.__qualname__
    return f"{t.__module__}.{t.__qualname__}"


def describe_exception(exc: BaseException) -> str:
    """``"<ExceptionType>: <msg>"`` then the last frames of the traceback (outside this file), one line each."""
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


def _construct(user_class: Callable[..., Any], context: SplitContext) -> Any:
    """``user_class(context)`` (or ``user_class()`` for a constructor without parameters)."""
    try:
        sig = inspect.signature(user_class)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot inspect the constructor of {user_class!r}: {e}") from e
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) == 1:
        return user_class(context)
    if not positional:
        return user_class()
    name = getattr(user_class, "__qualname__", repr(user_class))
    raise TypeError(f"{name}.__init__ takes {len(positional)} positional parameters besides self; expected 1 (context)")


def _check_result(stage: str, result: Any) -> Tuple[bool, Any]:
    if not isinstance(result, (tuple, list)) or len(result) != 2 or not isinstance(result[0], bool):
        raise TypeError(f"{stage}() must return (ok: bool, value), got {_safe_str(result)[:200]}")
    return result[0], result[1]


def _failure_message(stage: str, value: Any) -> str:
    text = _safe_str(value) if value is not None else ""
    return text or f"{stage}() returned ok=False"


def _is_plan(value: Any) -> bool:
    return isinstance(value, dict) and "planVersion" in value


def _on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    # A second SIGTERM kills the process outright, even if user code swallows the first exception.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SplitTerminated("received SIGTERM: the platform stopped the splitter (its timeout_s, or the task was stopped)")


def run_model_splitter(user_class: Callable[..., Any], context: Optional[SplitContext] = None) -> int:
    """Run the stages and print their lines; returns the exit status: 0 when all three stages were ok and
    ``plan.json`` was written, 1 on a failure, :data:`EXIT_TERMINATED` after SIGTERM.

    ``begin()`` returns ``(ok, extra)``, ``main(extra)`` ``(ok, extra)`` and ``finish(extra)`` ``(ok, result)``.
    A plan dict as ``result`` is emitted (``context.emit_plan``) unless the splitter already emitted one.
    ``context`` defaults to :meth:`SplitContext.from_env`; :func:`execute_model_splitter` is this plus ``sys.exit``.
    """
    try:
        if context is None:
            context = SplitContext.from_env()
    except SplitConfigError as e:
        report_stage("begin", False, f"SplitConfigError: {e}")
        return 1
    except BaseException as e:  # noqa: BLE001
        traceback.print_exc()
        report_stage("begin", False, describe_exception(e))
        return 1

    stage = "begin"
    try:
        instance = _construct(user_class, context)
        extra: Any = None
        for stage in STAGES:
            method = getattr(instance, stage, None)
            if not callable(method):
                raise TypeError(f"{type(instance).__qualname__} has no {stage}() method")
            ok, extra = _check_result(stage, method() if stage == "begin" else method(extra))
            if not ok:
                report_stage(stage, False, _failure_message(stage, extra))
                return 1
            if stage == "finish":
                if _is_plan(extra) and not context.plan_emitted:
                    context.emit_plan(extra)
                if not context.plan_emitted:
                    raise RuntimeError("no plan: finish() must return the plan (build_plan(...)) or call "
                                       "context.emit_plan(plan) before it returns")
            report_stage(stage, True, "")
    except SplitTerminated as e:
        report_stage(stage, False, describe_exception(e))
        return EXIT_TERMINATED
    except BaseException as e:  # noqa: BLE001 - SystemExit from user code is a failure too
        traceback.print_exc()
        report_stage(stage, False, describe_exception(e))
        return 1
    return 0


def execute_model_splitter(user_class: Callable[..., Any]) -> NoReturn:
    """Entry point of a splitter program: build the context from the environment, run begin/main/finish,
    report each stage on stdout and exit 0 (plan written), 1 (a failure) or 143 (SIGTERM)."""
    previous: Any = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        previous = None
    try:
        status = run_model_splitter(user_class)
    finally:
        if previous is not None:
            try:
                signal.signal(signal.SIGTERM, previous)
            except ValueError:
                pass
    sys.exit(status)


__all__ = [
    "EXIT_TERMINATED",
    "STAGES",
    "STAGE_PREFIX",
    "SplitTerminated",
    "describe_exception",
    "execute_model_splitter",
    "report_stage",
    "run_model_splitter",
    "stage_line",
]
