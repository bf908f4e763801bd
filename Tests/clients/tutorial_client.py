#!/usr/bin/env python3
"""Calls the inference gateway the way the AIOS inference tutorial does (grpc + code generated from
aios_service.proto), and prints one JSON line per call on stdout.

    tutorial_client.py ADDRESS BLOCK_ID --data TEXT [--session S] [--seq N] [--file PATH ...]
                       [--timeout SECONDS] [--repeat N] [--token T]

Success: {"ok": true, "session_id", "seq_no", "data", "output_ptr", "files": [{"metadata", "size"}]}
gRPC error: {"ok": false, "code": "<grpc.StatusCode name>", "details": "..."}
Exit 0 when every call got an answer or a status; 2 on bad arguments.

--token T (default $AIOS_TOKEN) is sent as gRPC metadata `authorization: Bearer T`; with neither, no
authorization metadata is sent (a platform run with `--auth off`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aios_service_pb2  # noqa: E402
import aios_service_pb2_grpc  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="AIOS tutorial-style gRPC client for BlockInferenceService/infer")
    p.add_argument("address", help="gateway address, host:port")
    p.add_argument("block_id", help="the block to infer with")
    p.add_argument("--data", required=True, help="the packet's data (sent as given, usually JSON text)")
    p.add_argument("--session", default=None, help="session_id (default: a fresh sess-<hex>)")
    p.add_argument("--seq", type=int, default=1, help="seq_no of the first call (default 1)")
    p.add_argument("--file", action="append", default=[], metavar="PATH", help="attach a file (repeatable)")
    p.add_argument("--timeout", type=float, default=10.0, help="deadline per call in seconds (default 10)")
    p.add_argument("--repeat", type=int, default=1, help="calls to make in the session, seq_no incrementing")
    p.add_argument("--tls-ca", default=None, metavar="PEM",
                   help="connect over TLS, trusting this CA certificate (aios up --tls-cert); default: plaintext")
    p.add_argument("--token", default=os.environ.get("AIOS_TOKEN"),
                   help="bearer token, sent as metadata 'authorization: Bearer T' (default: $AIOS_TOKEN; none: no metadata)")
    args = p.parse_args(argv)
    if args.seq < 0:
        p.error("--seq must be >= 0")
    if args.timeout <= 0:
        p.error("--timeout must be > 0")
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    for path in args.file:
        if not os.path.isfile(path):
            p.error(f"--file {path}: no such file")
    if args.session is None:
        args.session = f"sess-{uuid.uuid4().hex[:12]}"
    return args


def auth_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """The call metadata carrying the token (``authorization: Bearer T``); empty without a token."""
    token = (token or "").strip()
    return (("authorization", f"Bearer {token}"),) if token else ()


def load_files(paths: list[str]) -> list[aios_service_pb2.FileInfo]:
    files = []
    for path in paths:
        with open(path, "rb") as f:
            content = f.read()
        metadata = json.dumps({"file_name": os.path.basename(path), "size": len(content)})
        files.append(aios_service_pb2.FileInfo(metadata=metadata, file_data=content))
    return files


def reply_json(response: aios_service_pb2.AIOSPacket) -> dict[str, Any]:
    return {
        "ok": True,
        "session_id": response.session_id,
        "seq_no": response.seq_no,
        "data": response.data,
        "output_ptr": response.output_ptr,
        "files": [{"metadata": f.metadata, "size": len(f.file_data)} for f in response.files],
    }


def error_json(error: grpc.RpcError) -> dict[str, Any]:
    # The error a stub call raises is also a grpc.Call, with the status code and details.
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    return {"ok": False, "code": code.name if code is not None else "UNKNOWN", "details": details or ""}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    files = load_files(args.file)

    metadata = auth_metadata(args.token)
    if args.tls_ca:
        with open(args.tls_ca, "rb") as f:
            channel = grpc.secure_channel(args.address, grpc.ssl_channel_credentials(root_certificates=f.read()))
    else:
        channel = grpc.insecure_channel(args.address)
    stub = aios_service_pb2_grpc.BlockInferenceServiceStub(channel)
    try:
        for i in range(args.repeat):
            packet = aios_service_pb2.BlockInferencePacket(
                block_id=args.block_id,
                session_id=args.session,
                seq_no=args.seq + i,
                data=args.data,
                ts=time.time(),
                files=files,
            )
            try:
                response = stub.infer(packet, timeout=args.timeout, metadata=metadata)
                result = reply_json(response)
            except grpc.RpcError as e:
                result = error_json(e)
            print(json.dumps(result), flush=True)
    finally:
        channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
