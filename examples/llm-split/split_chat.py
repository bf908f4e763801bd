#!/usr/bin/env python3
"""Chat with SmolLM2 split over a vDAG of ``split_block.py`` blocks: the decode loop, one vDAG call per token.

    split_chat.py ADDRESS --prompt TEXT [--max-tokens N] [--session S] [--temperature T] [--seed N]
                  [--top-k K] [--timeout SECONDS] [--retries N] [--token T]

``ADDRESS`` is the vDAG controller's ``host:port`` (``aios vdag create`` prints it). The client is AIOS's:
``/vDAGInferenceService/infer`` with the stubs generated from ``vdag_service.proto`` (``Tests/clients``).
``--token T`` (default ``$AIOS_TOKEN``) goes with every call as gRPC metadata ``authorization: Bearer T``; with
neither, no authorization metadata is sent (a platform run with ``--auth off``).

1. ``{"prompt": TEXT, ...sampling}``: a new turn; the reply is the first token
   ``{"token", "text", "eos", "position", "top"}`` from the last split.
2. ``{"token": id, "position": p, ...sampling}`` per token, ``p`` being the previous reply's ``position``, until
   a reply has ``"eos": true`` (that token is not kept) or ``--max-tokens`` tokens are kept.

If a step is refused because a split lost the session (``INVALID_ARGUMENT`` "position mismatch" or "has no
context": an eviction or a restart), the turn is sent again and the tokens kept so far re-prefilled with
``{"tokens": [...], "position": p}`` (at most ``--retries`` times; greedy and seeded sampling give the same
tokens).

Prints one JSON line: ``{"ok": true, "tokens", "text", "elapsed_s", "tokens_per_s", "first_token_s",
"decode_tokens_per_s", "finish": "eos"|"length", "calls", "recovered", "session_id"}`` (exit 0) or ``{"ok":
false, "code", "details", ...}`` (exit 1). ``tokens_per_s`` counts every kept token over the whole time, the
prompt's prefill included; ``decode_tokens_per_s`` only the steps after the first token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

import grpc

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CLIENTS = os.path.join(REPO, "Tests", "clients")
if CLIENTS not in sys.path:
    sys.path.insert(0, CLIENTS)

import vdag_service_pb2  # noqa: E402
import vdag_service_pb2_grpc  # noqa: E402

RECOVERABLE = ("position mismatch", "has no context")


class ChatError(Exception):
    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Decode loop over the smollm2-split vDAG")
    p.add_argument("address", help="vDAG controller address, host:port")
    p.add_argument("--prompt", required=True, help="the user message (the chat template is applied by the first split)")
    p.add_argument("--max-tokens", type=int, default=32, help="tokens to generate at most (default 32)")
    p.add_argument("--session", default=None, help="session_id (default: a fresh split-<hex>)")
    p.add_argument("--temperature", type=float, default=None, help="0 or absent: greedy")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (the last split uses seed + position)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k best tokens (0: all)")
    p.add_argument("--timeout", type=float, default=30.0, help="deadline per call in seconds (default 30)")
    p.add_argument("--retries", type=int, default=2, help="turn resends after a lost session (default 2)")
    p.add_argument("--token", default=os.environ.get("AIOS_TOKEN"),
                   help="bearer token, sent as metadata 'authorization: Bearer T' (default: $AIOS_TOKEN; none: no metadata)")
    args = p.parse_args(argv)
    if args.max_tokens < 1:
        p.error("--max-tokens must be >= 1")
    if args.temperature is not None and args.temperature < 0:
        p.error("--temperature must be >= 0")
    if args.seed is not None and args.seed < 0:
        p.error("--seed must be >= 0")
    if args.top_k is not None and args.top_k < 0:
        p.error("--top-k must be >= 0")
    if args.timeout <= 0:
        p.error("--timeout must be > 0")
    if args.session is None:
        args.session = f"split-{uuid.uuid4().hex[:12]}"
    return args


def auth_metadata(token: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    """The call metadata carrying the token (``authorization: Bearer T``); empty without a token."""
    token = (token or "").strip()
    return (("authorization", f"Bearer {token}"),) if token else ()


class Chat:
    def __init__(self, stub: Any, session_id: str, sampling: Dict[str, Any], timeout: float,
                 metadata: Sequence[Tuple[str, str]] = ()) -> None:
        self.stub = stub
        self.session_id = session_id
        self.sampling = sampling
        self.timeout = timeout
        self.metadata = tuple(metadata)
        self.seq_no = 0

    def call(self, data: Dict[str, Any]) -> Dict[str, Any]:
        self.seq_no += 1
        packet = vdag_service_pb2.vDAGInferencePacket(
            session_id=self.session_id, seq_no=self.seq_no, data=json.dumps({**data, **self.sampling}), ts=time.time())
        try:
            reply = self.stub.infer(packet, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as e:
            code = e.code() if hasattr(e, "code") else None
            raise ChatError(code.name if code is not None else "UNKNOWN",
                            (e.details() if hasattr(e, "details") else str(e)) or "") from None
        try:
            out = json.loads(reply.data)
        except ValueError:
            out = None
        if not isinstance(out, dict) or not isinstance(out.get("token"), int) or not isinstance(out.get("position"), int):
            raise ChatError("BAD_REPLY", f"expected the last split's {{\"token\", \"text\", \"eos\", \"position\"}}, "
                                         f"got {reply.data[:300]!r} with {len(reply.files)} file(s)")
        return out


def run(args: argparse.Namespace) -> Dict[str, Any]:
    sampling = {k: v for k, v in (("temperature", args.temperature), ("seed", args.seed), ("top_k", args.top_k))
                if v is not None}
    channel = grpc.insecure_channel(args.address)
    chat = Chat(vdag_service_pb2_grpc.vDAGInferenceServiceStub(channel), args.session, sampling, args.timeout,
                auth_metadata(args.token))
    tokens: List[int] = []
    pieces: List[str] = []
    recovered = 0
    finish = "length"
    t0 = time.monotonic()
    first_token_s: Optional[float] = None
    try:
        out = chat.call({"prompt": args.prompt})
        first_token_s = time.monotonic() - t0
        while True:
            if out.get("eos"):
                finish = "eos"
                break
            tokens.append(out["token"])
            pieces.append(str(out.get("text", "")))
            if len(tokens) >= args.max_tokens:
                break
            try:
                out = chat.call({"token": out["token"], "position": out["position"]})
            except ChatError as e:
                if e.code != "INVALID_ARGUMENT" or not any(m in e.details for m in RECOVERABLE) \
                        or recovered >= args.retries:
                    raise
                recovered += 1
                # Send the turn again, then re-prefill every token kept so far after the prompt.
                first = chat.call({"prompt": args.prompt})
                out = chat.call({"tokens": list(tokens), "position": first["position"]})
    except ChatError as e:
        elapsed = time.monotonic() - t0
        return {"ok": False, "code": e.code, "details": e.details, "tokens": tokens, "text": "".join(pieces),
                "elapsed_s": round(elapsed, 6), "calls": chat.seq_no, "recovered": recovered,
                "session_id": args.session}
    finally:
        channel.close()
    elapsed = time.monotonic() - t0
    decode_s = elapsed - (first_token_s or 0.0)
    return {"ok": True, "tokens": tokens, "text": "".join(pieces), "elapsed_s": round(elapsed, 6),
            "tokens_per_s": round(len(tokens) / elapsed, 3) if elapsed > 0 else 0.0,
            "first_token_s": round(first_token_s or 0.0, 6),
            "decode_tokens_per_s": round((len(tokens) - 1) / decode_s, 3) if len(tokens) > 1 and decode_s > 0 else 0.0,
            "finish": finish, "calls": chat.seq_no, "recovered": recovered, "session_id": args.session}


def main(argv: List[str]) -> int:
    result = run(parse_args(argv))
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
