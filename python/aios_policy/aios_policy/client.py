"""A Python client for the worker protocol: starts a worker (optionally sandboxed) and calls it.

The platform's own client is Swift; this one serves the local runner, the tests and the benchmark,
and is the reference for how a caller behaves: one request at a time, a deadline per call, and on a
missed deadline the worker is killed (the caller restarts it).
"""

from __future__ import annotations

import itertools
import os
import selectors
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from .protocol import HEADER, MAX_FRAME, FrameError, encode_frame, write_all
from .types import PolicyError


class DeadlineExceeded(Exception):
    """The worker did not answer in time; it has been killed."""


class WorkerDied(Exception):
    """The worker's stdout closed (it exited or was killed) before a full reply."""


def worker_argv(code_dir: str, python: str = sys.executable) -> List[str]:
    """The plain (unsandboxed) worker command line."""
    return [python, "-m", "aios_policy.worker", "--code", str(code_dir)]


class WorkerClient:
    def __init__(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None,
                 stderr: Any = None, cwd: Optional[str] = None) -> None:
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr, env=env, cwd=cwd, bufsize=0)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd = self.proc.stdin.fileno()
        self.rfd = self.proc.stdout.fileno()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.rfd, selectors.EVENT_READ)
        self.ids = itertools.count(1)
        self.buf = bytearray()

    # -- low level ---------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        write_all(self.wfd, data)

    def _fill(self, n: int, deadline: Optional[float]) -> None:
        while len(self.buf) < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not self.sel.select(left):
                    self.kill()
                    raise DeadlineExceeded("worker missed its deadline and was killed")
            chunk = os.read(self.rfd, max(65536, n - len(self.buf)))
            if not chunk:
                raise WorkerDied(f"worker closed its output (exit {self.proc.poll()})")
            self.buf += chunk

    def read_reply(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        import json

        deadline = None if timeout is None else time.monotonic() + timeout
        self._fill(4, deadline)
        (length,) = HEADER.unpack(self.buf[:4])
        if length > MAX_FRAME:
            raise FrameError(f"reply of {length} bytes is over the limit")
        self._fill(4 + length, deadline)
        body = bytes(self.buf[4:4 + length])
        del self.buf[:4 + length]
        return json.loads(body)

    def request(self, obj: Dict[str, Any], timeout: Optional[float] = 10.0) -> Dict[str, Any]:
        """Send one request (an ``id`` is added when missing) and return its raw reply."""
        if "id" not in obj:
            obj = {"id": next(self.ids), **obj}
        self.send_raw(encode_frame(obj))
        return self.read_reply(timeout)

    # -- high level: return the result or raise PolicyError ------------------------------------------
    def _result(self, reply: Dict[str, Any]) -> Any:
        if reply.get("ok"):
            return reply.get("result")
        raise PolicyError(reply.get("error", "?"), reply.get("kind", "eval"), reply.get("traceback", ""))

    def init(self, rule_id: str = "", settings: Optional[dict] = None, parameters: Optional[dict] = None,
             defaults: Optional[dict] = None, timeout: Optional[float] = 30.0) -> Any:
        return self._result(self.request({"op": "init", "rule_id": rule_id, "settings": settings or {},
                                          "parameters": parameters or {}, "defaults": defaults or {}}, timeout))

    def eval(self, input_data: Any, context: Any = None, parameters: Optional[dict] = None,
             timeout: Optional[float] = 10.0) -> Any:
        req: Dict[str, Any] = {"op": "eval", "input": input_data, "context": context}
        if parameters is not None:
            req["parameters"] = parameters
        return self._result(self.request(req, timeout))

    def management(self, action: str, data: Any = None, timeout: Optional[float] = 10.0) -> Any:
        return self._result(self.request({"op": "management", "action": action, "data": data}, timeout))

    def ping(self, timeout: Optional[float] = 5.0) -> Any:
        return self._result(self.request({"op": "ping"}, timeout))

    # -- lifecycle -----------------------------------------------------------------------------------
    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self, timeout: float = 5.0) -> int:
        """Close stdin (the worker exits 0 between frames) and wait; kill after ``timeout``."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.returncode
        self.sel.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return rc

    def __enter__(self) -> "WorkerClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
