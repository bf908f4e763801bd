#!/usr/bin/env python3
"""Calls the gateway's OpenAI-compatible API with the official `openai` package, and prints one JSON line.

    openai_client.py BASE_URL MODEL --message TEXT [--stream] [--completions] [--session S] [--timeout SECONDS]
                     [--max-tokens N] [--temperature T] [--seed N] [--token T]

Success: {"ok": true, "content", "chunks", "finish_reason", "id", "model"}
HTTP error status: {"ok": false, "status": <int>, "body": <the error body>}
Connection error, timeout, anything else: {"ok": false, "error": "<exception type>", "message": "..."}
  (plus "cause": "<type>: <message>" when the exception wraps another, as APIConnectionError does)
Exit 0 whatever the server did; 2 on bad arguments.

--token T (default $AIOS_TOKEN) is the SDK's `api_key`, so it goes out as `Authorization: Bearer T`; with
neither, no Authorization header is sent (the SDK insists on a key, so a placeholder is given and its header
removed before each request), for a platform run with `--auth off`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Iterable

import openai
from openai import OpenAI


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="OpenAI-API client for the gateway (chat or legacy completions)")
    p.add_argument("base_url", help="API base URL, e.g. http://127.0.0.1:PORT/v1")
    p.add_argument("model", help="the model name (the block to infer with)")
    p.add_argument("--message", required=True, help="the user message (chat) or the prompt (--completions)")
    p.add_argument("--stream", action="store_true", help="stream the answer (server-sent events)")
    p.add_argument("--completions", action="store_true", help="call /completions instead of /chat/completions")
    p.add_argument("--session", default=None, help="sent as extra_body {\"session_id\": S}")
    p.add_argument("--timeout", type=float, default=10.0, help="request timeout in seconds (default 10)")
    p.add_argument("--max-tokens", type=int, default=None, help="max_tokens (default: the server's)")
    p.add_argument("--temperature", type=float, default=None, help="temperature (default: the server's)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: none)")
    p.add_argument("--token", default=os.environ.get("AIOS_TOKEN"),
                   help="bearer token, passed as the SDK's api_key (default: $AIOS_TOKEN; none: no Authorization header)")
    args = p.parse_args(argv)
    if args.timeout <= 0:
        p.error("--timeout must be > 0")
    return args


def text_of(choice: Any, completions: bool, streaming: bool) -> str:
    if completions:
        return getattr(choice, "text", None) or ""
    part = getattr(choice, "delta" if streaming else "message", None)
    return getattr(part, "content", None) or ""


def collect(result: Any, completions: bool, streaming: bool) -> dict[str, Any]:
    """Folds the response (one object, or the stream's chunks) into the printed summary."""
    chunks: Iterable[Any] = result if streaming else [result]
    content: list[str] = []
    count = 0
    finish_reason = None
    ident = model = None
    for chunk in chunks:
        count += 1
        ident = getattr(chunk, "id", None) or ident
        model = getattr(chunk, "model", None) or model
        for choice in getattr(chunk, "choices", None) or []:
            content.append(text_of(choice, completions, streaming))
            finish_reason = getattr(choice, "finish_reason", None) or finish_reason
    usage = getattr(result, "usage", None) if not streaming else None
    return {"ok": True, "content": "".join(content), "chunks": count,
            "finish_reason": finish_reason, "id": ident, "model": model,
            "usage": usage.model_dump() if usage is not None else None}


def _drop_authorization(request: Any) -> None:
    """httpx request hook: without a token no Authorization header goes out (the SDK always adds one)."""
    request.headers.pop("Authorization", None)


def make_client(base_url: str, token: str | None, timeout: float) -> OpenAI:
    token = (token or "").strip()
    hooks = {} if token else {"event_hooks": {"request": [_drop_authorization]}}
    return OpenAI(
        base_url=base_url,
        api_key=token or "unused",
        timeout=timeout,
        max_retries=0,
        # Loopback tests: never go through a proxy named in the environment.
        http_client=openai.DefaultHttpxClient(trust_env=False, **hooks),
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    client = make_client(args.base_url, args.token, args.timeout)
    extra_body = {"session_id": args.session} if args.session is not None else None
    options: dict[str, Any] = {k: v for k, v in (("max_tokens", args.max_tokens), ("temperature", args.temperature),
                                                  ("seed", args.seed)) if v is not None}
    try:
        if args.completions:
            result = client.completions.create(
                model=args.model, prompt=args.message, stream=args.stream, extra_body=extra_body, **options)
        else:
            result = client.chat.completions.create(
                model=args.model, messages=[{"role": "user", "content": args.message}],
                stream=args.stream, extra_body=extra_body, **options)
        out = collect(result, args.completions, args.stream)
    except openai.APIStatusError as e:
        # The client unwraps an {"error": {...}} body: e.body is the inner object.
        out = {"ok": False, "status": e.status_code, "body": e.body if e.body is not None else str(e)}
    except Exception as e:  # connection errors, timeouts, a stream that broke off or did not parse
        out = {"ok": False, "error": type(e).__name__, "message": str(e)}
        if e.__cause__ is not None:  # e.g. APIConnectionError("Connection error.") from httpx's ConnectError
            out["cause"] = f"{type(e.__cause__).__name__}: {e.__cause__}"
    finally:
        client.close()
    print(json.dumps(out, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
