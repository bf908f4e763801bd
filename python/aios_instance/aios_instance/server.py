"""``Block``: runs a user's block class as an aios.instance.v1 gRPC server."""

from __future__ import annotations

import collections.abc
import contextlib
import inspect
import json
import logging
import os
import signal
import sys
import threading
import traceback
import types
from concurrent import futures
from typing import Any, Dict, Iterator, List, Optional, Tuple, Type

import grpc

from .context import Context
from .errors import BlockError, RpcAbort, block_error_abort, describe_error, failed_message, raised_message, refused_message
from .proto import aios_instance_pb2 as pb
from .proto import aios_instance_pb2_grpc as pb_grpc
from .proto.aios_packet_pb2 import AIOSPacket
from .results import OnDataResult, PreProcessResult
from .tools import MuxerInputError

__all__ = ["Block", "ConfigError"]

log = logging.getLogger("aios_instance")

StatusCode = grpc.StatusCode

#: gRPC message size limit (both directions); packets may carry files.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: Seconds in-flight calls get to finish on SIGTERM/SIGINT.
SHUTDOWN_GRACE_S = 5.0
#: Server worker threads kept free of inference calls, so Health/Manage/UpdateParameters always get one.
RESERVED_WORKERS = 4
DEFAULT_MAX_WORKERS = 32
#: How often a call waiting for the inference lock checks that its client is still there.
_LOCK_POLL_S = 0.2


class ConfigError(Exception):
    """The runtime's environment or block file is unusable."""


# --------------------------------------------------------------------------------------------------
# Configuration


def _env(*names: str) -> Optional[str]:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def load_block_file(path: str) -> Dict[str, Any]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read block file {path!r} (AIOS_BLOCK_FILE): {e}") from None
    except ValueError as e:
        raise ConfigError(f"block file {path!r} (AIOS_BLOCK_FILE) is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"block file {path!r} (AIOS_BLOCK_FILE) must hold a JSON object, not {type(data).__name__}")
    return data


def _is_true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _split_result(result: Any) -> Tuple[bool, Any]:
    """AIOS methods return ``(ok, value)``; a bare value counts as ``(True, value)``."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
        return result[0], result[1]
    return True, result


def _is_stream(value: Any) -> bool:
    if isinstance(value, (str, bytes, bytearray, dict, list, tuple)):
        return False
    return isinstance(value, (types.GeneratorType, collections.abc.Iterator))


def _accepts_kwarg(fn: Any, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        (p.name == name and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) or p.kind == p.VAR_KEYWORD
        for p in params
    )


def _parse_json(text: str, field: str, default: Any) -> Any:
    if not text.strip():
        return default
    try:
        return json.loads(text)
    except ValueError as e:
        raise RpcAbort(StatusCode.INVALID_ARGUMENT, f"{field} is not valid JSON: {e}") from None


def _dumps_strict(value: Any, what: str) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as e:
        raise RpcAbort(StatusCode.INTERNAL, f"{what} is not JSON-serialisable: {type(e).__name__}: {e}") from None


# --------------------------------------------------------------------------------------------------
# The pipeline: user code adapted to the instance protocol


class _Pipeline:
    def __init__(self, user: Any, context: Context, muxer: Any, concurrency: int) -> None:
        self.user = user
        self.context = context
        self.muxer = muxer
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self._on_preprocess = getattr(user, "on_preprocess", None)
        self._on_data = getattr(user, "on_data", None)
        self._on_data_kwargs: Dict[str, Any] = (
            {"is_ws": False} if self._on_data is not None and _accepts_kwarg(self._on_data, "is_ws") else {}
        )
        self._class_name = type(user).__name__

    # -- helpers

    @contextlib.contextmanager
    def _slot(self, rpc: Optional[grpc.ServicerContext]) -> Iterator[None]:
        """Serialises calls into user code (or admits up to ``concurrency`` at once)."""
        while not self._slots.acquire(timeout=_LOCK_POLL_S):
            if rpc is not None and not rpc.is_active():
                raise RpcAbort(StatusCode.CANCELLED, "the call ended while waiting for the instance")
        try:
            yield
        finally:
            self._slots.release()

    @staticmethod
    def _call(method: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BlockError as e:
            raise block_error_abort(method, e) from None
        except Exception as e:
            log.exception("%s raised", method)
            raise RpcAbort(StatusCode.INTERNAL, raised_message(method, e)) from None

    def _output(self, entry: Any, value: Any) -> AIOSPacket:
        src = entry.packet
        out = AIOSPacket()
        if isinstance(src, AIOSPacket):
            out.CopyFrom(src)
        elif hasattr(src, "SerializeToString"):
            try:
                out.ParseFromString(src.SerializeToString())
            except Exception as e:  # noqa: BLE001 - reported to the caller
                raise RpcAbort(StatusCode.INTERNAL, f"PreProcessResult.packet is not an AIOSPacket: {e}") from None
        else:
            raise RpcAbort(
                StatusCode.INTERNAL,
                f"PreProcessResult.packet must be an AIOSPacket, got {type(src).__name__}",
            )
        out.data = _dumps_strict(value, "on_data output")
        return out

    def _entries(self, result: Any) -> List[Any]:
        ok, value = _split_result(result)
        if not ok:
            # (False, reason) from on_preprocess is AIOS's way of refusing an input: the caller's fault.
            log.info("on_preprocess refused the input: %s", describe_error(value))
            raise RpcAbort(StatusCode.INVALID_ARGUMENT, refused_message("on_preprocess", value))
        if value is None:
            if not isinstance(result, tuple):
                log.warning("on_preprocess returned None: no entries (return (True, [...]))")
            return []
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        entries: List[Any] = []
        for item in items:
            if isinstance(item, PreProcessResult) or hasattr(item, "packet"):
                entries.append(item)
            elif isinstance(item, AIOSPacket):
                entries.append(PreProcessResult(item))
            else:
                raise RpcAbort(
                    StatusCode.INTERNAL,
                    f"on_preprocess returned an entry of type {type(item).__name__}; expected PreProcessResult",
                )
        return entries

    # -- Infer / InferStream

    def job(self, packet: AIOSPacket, rpc: Optional[grpc.ServicerContext]) -> Iterator[Tuple[bool, AIOSPacket]]:
        """Runs one packet through the block; yields ``(streamed, output_packet)``."""
        if self._on_data is None:
            raise RpcAbort(StatusCode.UNIMPLEMENTED, f"block class {self._class_name} has no on_data method")
        if self.muxer is not None:
            with self._slot(rpc):
                try:
                    merged = self.muxer.process_packet(packet)
                except MuxerInputError as e:
                    raise RpcAbort(StatusCode.INVALID_ARGUMENT, f"muxer: {e}") from None
                except Exception as e:
                    log.exception("muxer raised")
                    raise RpcAbort(StatusCode.INTERNAL, raised_message("muxer.process_packet", e)) from None
            if merged is None:
                return  # waiting for the rest of the group: no outputs
            packet = merged

        if self._on_preprocess is None:
            entries: List[Any] = [PreProcessResult(packet)]
        else:
            with self._slot(rpc):
                result = self._call("on_preprocess", self._on_preprocess, packet)
            entries = self._entries(result)

        for entry in entries:
            with self._slot(rpc):
                result = self._call("on_data", self._on_data, entry, **self._on_data_kwargs)
            ok, value = _split_result(result)
            if not ok:
                log.warning("on_data failed: %s", describe_error(value))
                raise RpcAbort(StatusCode.INTERNAL, failed_message("on_data", value))
            if isinstance(value, OnDataResult):
                value = value.output
            if value is None:
                continue  # e.g. a batch still filling
            if not _is_stream(value):
                yield False, self._output(entry, value)
                continue
            iterator = iter(value)
            try:
                while True:
                    with self._slot(rpc):
                        try:
                            chunk = next(iterator)
                        except StopIteration:
                            break
                        except BlockError as e:
                            raise block_error_abort("on_data", e) from None
                        except Exception as e:
                            log.exception("on_data stream raised")
                            raise RpcAbort(StatusCode.INTERNAL, raised_message("on_data", e)) from None
                    if isinstance(chunk, OnDataResult):
                        chunk = chunk.output
                    if chunk is None:
                        continue
                    yield True, self._output(entry, chunk)
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:  # noqa: BLE001 - the call is over either way
                        log.exception("closing the on_data stream raised")

    # -- Health / Manage / UpdateParameters

    def health(self) -> pb.HealthReply:
        fn = getattr(self.user, "health", None)
        if fn is None:
            return pb.HealthReply(status="healthy", details_json=json.dumps({"status": "healthy"}))
        try:
            result = fn()
        except Exception as e:
            log.exception("health raised")
            return pb.HealthReply(status="unhealthy", details_json=json.dumps({"error": raised_message("health", e)}))
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
            ok, value = result
            if not ok:
                return pb.HealthReply(
                    status="unhealthy", details_json=json.dumps({"error": failed_message("health", value)})
                )
            status = str(value["status"]) if isinstance(value, dict) and "status" in value else "healthy"
            result = value
        elif isinstance(result, dict) and "status" in result:
            status = str(result["status"])
        else:
            status = "healthy" if result else "unhealthy"
        try:
            details = json.dumps(result, default=str)
        except (TypeError, ValueError):
            details = json.dumps(repr(result))
        return pb.HealthReply(status=status, details_json=details)

    def manage(self, request: pb.ManageRequest, rpc: Optional[grpc.ServicerContext]) -> pb.ManageReply:
        if not request.action:
            raise RpcAbort(StatusCode.INVALID_ARGUMENT, "Manage.action is empty")
        data = _parse_json(request.data_json, "data_json", {})
        fn = getattr(self.user, "management", None)
        if fn is None:
            raise RpcAbort(
                StatusCode.UNIMPLEMENTED, f"block class {self._class_name} has no management(action, data) method"
            )
        with self._slot(rpc):
            result = self._call("management", fn, request.action, data)
        ok, value = _split_result(result)
        if not ok:
            raise RpcAbort(StatusCode.INTERNAL, failed_message("management", value))
        return pb.ManageReply(result_json=_dumps_strict(value, "management result"))

    def update_parameters(
        self, request: pb.UpdateParametersRequest, rpc: Optional[grpc.ServicerContext]
    ) -> pb.UpdateParametersReply:
        params = _parse_json(request.parameters_json, "parameters_json", {})
        if not isinstance(params, dict):
            raise RpcAbort(
                StatusCode.INVALID_ARGUMENT, f"parameters_json must be a JSON object, got {type(params).__name__}"
            )
        fn = getattr(self.user, "on_update", None)
        target = self.context.block_init_parameters
        with self._slot(rpc):
            before = dict(target)
            target.update(params)
            value: Any = None
            if fn is not None:
                try:
                    result = fn(params)
                    ok, value = _split_result(result)
                except BlockError as e:
                    target.clear()
                    target.update(before)
                    raise block_error_abort("on_update", e) from None
                except Exception as e:
                    log.exception("on_update raised")
                    target.clear()
                    target.update(before)
                    raise RpcAbort(StatusCode.INTERNAL, raised_message("on_update", e)) from None
                if not ok:
                    target.clear()
                    target.update(before)
                    raise RpcAbort(StatusCode.INTERNAL, failed_message("on_update", value))
            merged = json.dumps(target, default=str)
        try:
            result_json = json.dumps(value)
        except (TypeError, ValueError):
            result_json = json.dumps(value, default=str)
        log.info("parameters updated: %s", merged)
        return pb.UpdateParametersReply(parameters_json=merged, result_json=result_json)


# --------------------------------------------------------------------------------------------------
# The gRPC servicer


class _Servicer(pb_grpc.InstanceServicer):
    def __init__(self, pipeline: _Pipeline, max_inference_calls: int) -> None:
        self.pipeline = pipeline
        self.max_inference_calls = max_inference_calls
        self.shutting_down = False
        self._lock = threading.Lock()
        self._active = 0
        self._inference = 0

    @property
    def active(self) -> int:
        with self._lock:
            return self._active

    def _enter(self, rpc: grpc.ServicerContext, inference: bool) -> None:
        with self._lock:
            if self.shutting_down:
                rpc.abort(StatusCode.UNAVAILABLE, "the instance is shutting down")
            if inference and self._inference >= self.max_inference_calls:
                rpc.abort(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"the instance is busy: {self._inference} inference calls in flight",
                )
            self._active += 1
            if inference:
                self._inference += 1

    def _exit(self, inference: bool) -> None:
        with self._lock:
            self._active -= 1
            if inference:
                self._inference -= 1

    def _unary(self, rpc: grpc.ServicerContext, inference: bool, fn: Any, *args: Any) -> Any:
        self._enter(rpc, inference)
        try:
            return fn(*args)
        except RpcAbort as a:
            rpc.abort(a.code, a.message)
        except Exception as e:  # noqa: BLE001 - an SDK bug must still answer
            log.exception("aios_instance internal error")
            rpc.abort(StatusCode.INTERNAL, f"aios_instance internal error: {type(e).__name__}: {e}")
        finally:
            self._exit(inference)

    def Infer(self, request: pb.InferRequest, context: grpc.ServicerContext) -> pb.InferReply:
        def run() -> pb.InferReply:
            outputs = [out for _, out in self.pipeline.job(request.packet, context)]
            return pb.InferReply(outputs=outputs)

        return self._unary(context, True, run)

    def InferStream(self, request: pb.InferRequest, context: grpc.ServicerContext) -> Iterator[pb.InferReply]:
        self._enter(context, True)
        try:
            pending: List[AIOSPacket] = []
            sent = False
            for streamed, out in self.pipeline.job(request.packet, context):
                if not streamed:
                    pending.append(out)
                    continue
                if pending:
                    yield pb.InferReply(outputs=pending)
                    pending = []
                yield pb.InferReply(outputs=[out])
                sent = True
            if pending or not sent:
                yield pb.InferReply(outputs=pending)
        except RpcAbort as a:
            context.abort(a.code, a.message)
        except Exception as e:  # noqa: BLE001
            log.exception("aios_instance internal error")
            context.abort(StatusCode.INTERNAL, f"aios_instance internal error: {type(e).__name__}: {e}")
        finally:
            self._exit(True)

    def Health(self, request: pb.HealthRequest, context: grpc.ServicerContext) -> pb.HealthReply:
        return self._unary(context, False, self.pipeline.health)

    def Manage(self, request: pb.ManageRequest, context: grpc.ServicerContext) -> pb.ManageReply:
        return self._unary(context, False, self.pipeline.manage, request, context)

    def UpdateParameters(
        self, request: pb.UpdateParametersRequest, context: grpc.ServicerContext
    ) -> pb.UpdateParametersReply:
        return self._unary(context, False, self.pipeline.update_parameters, request, context)


# --------------------------------------------------------------------------------------------------
# Block


class Block:
    """Serves ``block_class`` over the instance protocol: ``Block(MyBlock).run()``.

    Without arguments everything comes from the runtime's environment (``AIOS_BLOCK_ID``,
    ``AIOS_INSTANCE_ID``, ``AIOS_LISTEN``, ``AIOS_BLOCK_FILE``). The keyword arguments override it (tests,
    embedding): ``block_data`` is the block document itself, ``listen`` a ``host:port`` (port 0: any free one).
    """

    def __init__(
        self,
        block_class: Type[Any],
        *,
        block_data: Optional[Dict[str, Any]] = None,
        block_id: Optional[str] = None,
        instance_id: Optional[str] = None,
        listen: Optional[str] = None,
    ) -> None:
        self.block_class = block_class
        self._block_data = block_data
        self._block_id = block_id
        self._instance_id = instance_id
        self._listen = listen
        self.context: Optional[Context] = None
        self.instance: Any = None
        self.address: Optional[str] = None
        self._server: Optional[grpc.Server] = None
        self._servicer: Optional[_Servicer] = None
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()

    # -- lifecycle

    def _configure(self) -> Tuple[Dict[str, Any], str, str, str]:
        block_data = self._block_data
        if block_data is None:
            path = _env("AIOS_BLOCK_FILE")
            if path:
                block_data = load_block_file(path)
            else:
                log.warning("AIOS_BLOCK_FILE is not set: starting with an empty block document")
                block_data = {}
        block_id = self._block_id or _env("AIOS_BLOCK_ID", "BLOCK_ID") or str(block_data.get("blockId") or "")
        instance_id = (
            self._instance_id or _env("AIOS_INSTANCE_ID", "INSTANCE_ID") or str(block_data.get("instanceId") or "")
        )
        listen = self._listen or _env("AIOS_LISTEN")
        if not listen:
            listen = "127.0.0.1:0"
            log.warning("AIOS_LISTEN is not set: listening on %s", listen)
        if ":" not in listen:
            raise ConfigError(f"AIOS_LISTEN must be host:port, got {listen!r}")
        return block_data, block_id, instance_id, listen

    def start(self) -> str:
        """Builds the context, constructs the user's class, starts serving; returns the bound address.

        Exceptions from the user's constructor (or ``get_muxer``) propagate; ``ConfigError`` for a bad
        environment or block file; ``RuntimeError`` if the address cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("Block already started")
        block_data, block_id, instance_id, listen = self._configure()
        context = Context(block_data, block_id=block_id, instance_id=instance_id)
        self.context = context
        log.info("starting block %s instance %s (%s)", block_id, instance_id, self.block_class.__name__)

        instance = self.block_class(context)
        self.instance = instance
        get_muxer = getattr(instance, "get_muxer", None)
        muxer = get_muxer() if callable(get_muxer) else None  # once, not per job (AIOS called it per job)
        if muxer is not None and not callable(getattr(muxer, "process_packet", None)):
            raise TypeError(f"get_muxer() returned {type(muxer).__name__}, which has no process_packet(packet)")

        init = context.block_init_data
        if _is_true(init.get("enable_thread_pool", False)):
            concurrency = max(1, int(init.get("max_threads", 4)))
        else:
            concurrency = 1
        max_workers = max(8, int(init.get("grpc_max_workers", DEFAULT_MAX_WORKERS)), concurrency + RESERVED_WORKERS)
        pipeline = _Pipeline(instance, context, muxer, concurrency)
        servicer = _Servicer(pipeline, max_inference_calls=max_workers - RESERVED_WORKERS)

        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aios-grpc"),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                # Without this a port another process holds can be "bound" too (SO_REUSEPORT).
                ("grpc.so_reuseport", 0),
            ],
        )
        pb_grpc.add_InstanceServicer_to_server(servicer, server)
        try:
            port = server.add_insecure_port(listen)
        except RuntimeError as e:
            raise RuntimeError(f"cannot listen on {listen}: {e}") from None
        if not port:
            raise RuntimeError(f"cannot listen on {listen}")
        host = listen.rsplit(":", 1)[0]
        self.address = f"{host}:{port}"
        server.start()
        self._server = server
        self._servicer = servicer
        log.info(
            "serving %s/%s on %s (concurrency %d, %d workers, muxer %s)",
            block_id, instance_id, self.address, concurrency, max_workers, type(muxer).__name__ if muxer else "none",
        )
        return self.address

    def stop(self, grace: float = SHUTDOWN_GRACE_S) -> bool:
        """Stops accepting calls and lets in-flight ones finish for up to ``grace`` seconds.

        Returns True if no call is still running user code afterwards."""
        self._stop_requested.set()
        server, servicer = self._server, self._servicer
        if server is None or servicer is None:
            self._stopped.set()
            return True
        servicer.shutting_down = True
        server.stop(grace).wait()
        self._stopped.set()
        return servicer.active == 0

    def request_stop(self) -> None:
        """Asks ``run()`` to shut down (what SIGTERM/SIGINT do)."""
        self._stop_requested.set()

    def run(self) -> None:
        """Serves until SIGTERM/SIGINT, then shuts down gracefully (process exit status 0).

        Startup failures (the user's constructor raising, a bad block file, an unusable address) print the
        traceback to stderr and exit with status 1.
        """
        _configure_logging()
        in_main_thread = threading.current_thread() is threading.main_thread()
        serving = False

        def on_signal(signum: int, _frame: Any) -> None:
            if not serving:
                # Nothing is in flight yet: leave at once (this interrupts a slow constructor).
                raise SystemExit(0)
            log.info("received %s: shutting down", signal.Signals(signum).name)
            self._stop_requested.set()

        if in_main_thread:
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
        try:
            address = self.start()
        except ConfigError as e:
            print(f"aios_instance: {e}", file=sys.stderr, flush=True)
            sys.exit(1)
        except Exception:
            print(f"aios_instance: starting {self.block_class.__name__} failed:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            sys.exit(1)
        serving = True
        assert self.context is not None
        print(f"aios_instance ready: {self.context.block_id}/{self.context.instance_id} on {address}", flush=True)
        while not self._stop_requested.wait(0.5):
            pass
        clean = self.stop(SHUTDOWN_GRACE_S)
        log.info("stopped")
        if not clean:
            # A call is still inside user code; its thread would keep the interpreter from exiting.
            log.warning("user code still running after %.0f s grace: exiting anyway", SHUTDOWN_GRACE_S)
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)


def _configure_logging() -> None:
    root = logging.getLogger()
    if root.handlers:
        return
    level = (_env("AIOS_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
