"""The long-lived policy worker: ``python3 -m aios_policy.worker --code DIR``.

It speaks the framed protocol of :mod:`aios_policy.protocol` on its original stdin/stdout, which it
first moves to private descriptors so that nothing the policy prints can corrupt a frame (fd 1 then
points at fd 2, fd 0 at /dev/null). See docs/policy-worker.md for the full contract.

Exit codes: 0 the platform closed stdin between frames, or sent ``shutdown``; 2 bad command line;
3 protocol error (malformed/oversized/truncated frame, after answering it when possible).
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import Any, Dict, List, Optional

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_PROTOCOL = 3


def _take_protocol_fds() -> "tuple[int, int]":
    """Dup the original stdin/stdout to new (close-on-exec) fds; fd 1 -> stderr, fd 0 -> /dev/null."""
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    sys.stdout.flush()
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return proto_in, proto_out


class Worker:
    def __init__(self, code_dir: str, proto_in: int, proto_out: int, max_frame: int) -> None:
        from . import protocol

        self.protocol = protocol
        self.code_dir = code_dir
        self.reader = open(proto_in, "rb", buffering=65536, closefd=True)
        self.out = proto_out
        self.max_frame = max_frame
        self.module: Optional[ModuleType] = None
        self.policy: Any = None  # LoadedPolicy
        self.encode = protocol.ENCODER.encode

    # -- replies -----------------------------------------------------------------------------------
    def send(self, obj: Dict[str, Any]) -> None:
        body = self.encode(obj).encode("utf-8")
        if len(body) > self.protocol.MAX_FRAME:
            raise ValueError(f"reply of {len(body)} bytes is over the {self.protocol.MAX_FRAME}-byte limit")
        self.protocol.write_all(self.out, self.protocol.HEADER.pack(len(body)) + body)

    def error(self, rid: Any, kind: str, message: str, tb: str = "") -> Dict[str, Any]:
        return {"id": rid, "ok": False, "error": " ".join(message.split()), "kind": kind, "traceback": tb}

    def reply_result(self, rid: Any, result: Any) -> None:
        try:
            self.send({"id": rid, "ok": True, "result": result})
        except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as e:
            from .loader import one_line

            self.send(self.error(rid, "encode", f"result is not JSON: {one_line(e)}"))

    # -- requests ----------------------------------------------------------------------------------
    def handle(self, req: Dict[str, Any]) -> bool:
        """Answer one request; False when the worker should exit (shutdown)."""
        from .types import PolicyError

        rid = req.get("id")
        op = req.get("op")
        try:
            if op == "eval":
                if self.policy is None:
                    raise PolicyError("eval before init", "protocol")
                params = req.get("parameters")
                self.reply_result(rid, self.policy.eval(req.get("input"), req.get("context"), params))
            elif op == "ping":
                self.send({"id": rid, "ok": True, "result": {"pid": os.getpid(), "initialised": self.policy is not None}})
            elif op == "init":
                self.init(req)
                self.send({"id": rid, "ok": True, "result": {"rule_id": self.policy.rule_id,
                                                             "has_management": callable(getattr(self.policy.instance, "management", None))}})
            elif op == "management":
                if self.policy is None:
                    raise PolicyError("management before init", "protocol")
                action = req.get("action")
                if not isinstance(action, str):
                    raise PolicyError("management needs action (a string)", "protocol")
                self.reply_result(rid, self.policy.management(action, req.get("data")))
            elif op == "shutdown":
                self.send({"id": rid, "ok": True, "result": None})
                return False
            else:
                raise PolicyError(f"unknown op {op!r} (init|eval|management|ping|shutdown)", "protocol")
        except PolicyError as e:
            self.send(self.error(rid, e.kind, e.message, e.traceback))
        return True

    def init(self, req: Dict[str, Any]) -> None:
        from .loader import LoadedPolicy, load_module
        from .types import PolicyError

        defaults = req.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise PolicyError("defaults must be an object {settings, parameters}", "protocol")
        rule_id = req.get("rule_id", "")
        if not isinstance(rule_id, str):
            raise PolicyError("rule_id must be a string", "protocol")
        if self.module is None:
            self.module = load_module(self.code_dir)  # imported once; a re-init reuses it
        self.policy = LoadedPolicy(
            self.code_dir,
            rule_id=rule_id,
            settings=req.get("settings"),
            parameters=req.get("parameters"),
            default_settings=defaults.get("settings"),
            default_parameters=defaults.get("parameters"),
            module=self.module,
        )

    def serve(self) -> int:
        p = self.protocol
        while True:
            try:
                req = p.read_frame(self.reader, self.max_frame)
            except p.EndOfStream:
                return EXIT_OK
            except p.FrameError as e:
                try:
                    self.send(self.error(None, "protocol", str(e)))
                except OSError:
                    pass
                print(f"aios_policy.worker: protocol error: {e}", file=sys.stderr, flush=True)
                return EXIT_PROTOCOL
            if not self.handle(req):
                return EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aios_policy.worker", description=__doc__.splitlines()[0])
    ap.add_argument("--code", required=True, help="the policy's code directory (holds function.py)")
    ap.add_argument("--max-frame", type=int, default=None, help="largest request frame in bytes (default 16 MiB)")
    args = ap.parse_args(argv)
    proto_in, proto_out = _take_protocol_fds()  # before any user code runs
    from .protocol import MAX_FRAME

    worker = Worker(args.code, proto_in, proto_out, args.max_frame or MAX_FRAME)
    try:
        return worker.serve()
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
