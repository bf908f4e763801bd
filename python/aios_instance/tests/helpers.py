"""Shared test helpers: packets, stubs, in-process servers and instance subprocesses."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

import grpc

from aios_instance import AIOSPacket, Block, FileInfo
from aios_instance.proto import aios_instance_pb2 as pb
from aios_instance.proto import aios_instance_pb2_grpc as pb_grpc

#: Deadline for every gRPC call the tests make.
CALL_TIMEOUT = 10.0
READY_RE = re.compile(r"^aios_instance ready: (?P<block>[^/]*)/(?P<instance>\S*) on (?P<address>\S+)$")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def packet(data: Any = None, session_id: str = "s1", seq_no: int = 1, raw: Optional[str] = None,
           files: Optional[List[FileInfo]] = None, ts: float = 1700000000.5, output_ptr: str = "") -> AIOSPacket:
    p = AIOSPacket(session_id=session_id, seq_no=seq_no, ts=ts, output_ptr=output_ptr,
                   data=raw if raw is not None else json.dumps(data))
    if files:
        p.files.extend(files)
    return p


def infer_request(*args: Any, **kwargs: Any) -> pb.InferRequest:
    return pb.InferRequest(packet=packet(*args, **kwargs))


def outputs(reply: pb.InferReply) -> List[Any]:
    return [json.loads(p.data) for p in reply.outputs]


class Client:
    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(self.channel).result(timeout=CALL_TIMEOUT)
        self.stub = pb_grpc.InstanceStub(self.channel)

    def infer(self, *args: Any, **kwargs: Any) -> pb.InferReply:
        return self.stub.Infer(infer_request(*args, **kwargs), timeout=CALL_TIMEOUT)

    def infer_stream(self, *args: Any, **kwargs: Any) -> List[pb.InferReply]:
        return list(self.stub.InferStream(infer_request(*args, **kwargs), timeout=CALL_TIMEOUT))

    def health(self, timeout: float = CALL_TIMEOUT) -> pb.HealthReply:
        return self.stub.Health(pb.HealthRequest(), timeout=timeout)

    def manage(self, action: str, data: Any = None, raw: Optional[str] = None) -> pb.ManageReply:
        data_json = raw if raw is not None else ("" if data is None else json.dumps(data))
        return self.stub.Manage(pb.ManageRequest(action=action, data_json=data_json), timeout=CALL_TIMEOUT)

    def update(self, params: Any = None, raw: Optional[str] = None) -> pb.UpdateParametersReply:
        text = raw if raw is not None else json.dumps(params)
        return self.stub.UpdateParameters(pb.UpdateParametersRequest(parameters_json=text), timeout=CALL_TIMEOUT)

    def close(self) -> None:
        self.channel.close()


class Served:
    """A ``Block`` served in this process on a free loopback port."""

    def __init__(self, block_class: type, block_data: Optional[Dict[str, Any]] = None) -> None:
        self.block = Block(block_class, block_data=block_data if block_data is not None else {},
                           block_id="test-block", instance_id="test-block-0", listen="127.0.0.1:0")
        self.address = self.block.start()
        self.client = Client(self.address)

    @property
    def instance(self) -> Any:
        return self.block.instance

    def close(self) -> None:
        self.block.stop(1.0)  # before closing the channel: closing a channel to a live server takes 0.2 s
        self.client.close()


class InstanceProcess:
    """An instance subprocess started with the runtime's environment contract."""

    def __init__(self, argv: List[str], cwd: str, block_file: str, block_data: Any,
                 block_id: str = "blk", instance_id: str = "blk-0", extra_env: Optional[Dict[str, str]] = None) -> None:
        with open(block_file, "w", encoding="utf-8") as f:
            # A str is written as is (to test broken block files).
            f.write(block_data if isinstance(block_data, str) else json.dumps(block_data))
        self.port = free_port()
        env = dict(os.environ)
        env.update({
            "AIOS_BLOCK_ID": block_id,
            "AIOS_INSTANCE_ID": instance_id,
            "AIOS_LISTEN": f"127.0.0.1:{self.port}",
            "AIOS_BLOCK_FILE": block_file,
            "CUDA_VISIBLE_DEVICES": "",
            "NVIDIA_VISIBLE_DEVICES": "",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(extra_env or {})
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
        self.stdout: List[str] = []
        self.stderr: List[str] = []
        self._lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr, False), daemon=True).start()
        self.client: Optional[Client] = None

    def _pump(self, stream: Any, sink: List[str], to_queue: bool) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            if to_queue:
                self._lines.put(line.rstrip("\n"))

    def wait_ready(self, timeout: float = 20.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    time.sleep(0.2)  # let the pumps drain
                    raise AssertionError(f"instance exited with {self.proc.returncode}; stderr:\n" + "\n".join(self.stderr))
                continue
            m = READY_RE.match(line)
            if m:
                self.client = Client(m.group("address"))
                return m
        raise AssertionError("instance did not print its ready line; stderr:\n" + "\n".join(self.stderr))

    def wait_exit(self, timeout: float = 15.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            time.sleep(0.05)

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


PYTHON = sys.executable
