"""Start one policy worker, sandboxed: the platform's entry point into :mod:`aios_policy.sandbox`.

    python -m aios_policy.launch --code DIR [--venv DIR] [--mode bwrap|rlimits_only] [--run-as UID:GID]
                                 [--cpu S] [--as BYTES] [--nproc N] [--nofile N] [--fsize BYTES] [--bwrap PATH]
                                 [--sdk DIR] [--python PATH]
    python -m aios_policy.launch --probe [--bwrap PATH]

The first form builds the worker's argv and environment (:func:`build_worker_argv`, :func:`worker_env`)
and replaces itself with it (``execve``), so the process the platform started *is* the sandbox: its pid,
its pipes (stdin: requests, stdout: replies) and its process group carry over, and ``--die-with-parent``
watches the platform. The interpreter inside is the policy venv's, or this one's real path (a venv of the
platform is not visible in the sandbox; the worker needs only the standard library and the SDK).

``--probe`` prints ``{"usable": bool, "reason": str}`` on stdout: whether bwrap can build a sandbox here.

Exit codes: 2 bad arguments; 127 the sandbox program cannot be executed (message on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional, Sequence, Tuple

from .sandbox import Limits, SandboxSpec, build_worker_argv, bwrap_available, worker_env


def _run_as(text: str) -> Tuple[int, int]:
    uid, sep, gid = text.partition(":")
    if not sep or not uid.isdigit() or not gid.isdigit():
        raise argparse.ArgumentTypeError(f"expected UID:GID, got {text!r}")
    return int(uid), int(gid)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m aios_policy.launch")
    ap.add_argument("--probe", action="store_true", help="say whether bwrap can sandbox here, and exit")
    ap.add_argument("--code", help="the policy's code directory (holds function.py)")
    ap.add_argument("--venv", help="the policy's virtualenv, when it has requirements")
    ap.add_argument("--mode", choices=("bwrap", "rlimits_only"), default="bwrap")
    ap.add_argument("--run-as", type=_run_as, help="UID:GID to switch to before bwrap (needed as root)")
    ap.add_argument("--bwrap", default="bwrap")
    ap.add_argument("--sdk", help="directory holding the aios_policy package to bind (default: this one's)")
    ap.add_argument("--python", help="interpreter to run inside the sandbox when there is no --venv (default: this one's real path)")
    defaults = Limits()
    ap.add_argument("--cpu", type=int, default=defaults.cpu_seconds)
    ap.add_argument("--as", dest="address_space", type=int, default=defaults.address_space)
    ap.add_argument("--nproc", type=int, default=defaults.nproc)
    ap.add_argument("--nofile", type=int, default=defaults.nofile)
    ap.add_argument("--fsize", type=int, default=defaults.fsize)
    args = ap.parse_args(list(argv))
    if not args.probe and not args.code:
        ap.error("--code is required")
    return args


def command(args: argparse.Namespace) -> Tuple[List[str], dict]:
    """The worker's argv and environment for ``args``."""
    python = os.path.join(args.venv, "bin", "python3") if args.venv else (args.python or os.path.realpath(sys.executable))
    spec = SandboxSpec(
        code_dir=os.path.realpath(args.code), python=python,
        venv_dir=os.path.realpath(args.venv) if args.venv else None,
        limits=Limits(args.cpu, args.address_space, args.nproc, args.nofile, args.fsize),
        sdk_dir=os.path.realpath(args.sdk) if args.sdk else None, mode=args.mode, run_as=args.run_as, bwrap=args.bwrap, host_python=os.path.realpath(sys.executable))
    return build_worker_argv(spec), worker_env(spec)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.probe:
        usable, reason = bwrap_available(args.bwrap, os.path.realpath(sys.executable))
        print(json.dumps({"usable": usable, "reason": reason}))
        return 0
    argv_, env = command(args)
    sys.stdout.flush()
    try:
        os.execvpe(argv_[0], argv_, env)
    except OSError as e:
        print(f"aios_policy.launch: cannot execute {argv_[0]}: {e}", file=sys.stderr)
        return 127
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
