"""``aios-policy``: try a policy locally, check an archive.

    aios-policy run --code DIR --input input.json [--settings JSON] [--parameters JSON]
                    [--context JSON] [--defaults JSON] [--kind KIND] [--in-process]
    aios-policy check --archive FILE

``run`` starts the real worker (``python -m aios_policy.worker``, not sandboxed) so a policy behaves as
it will on the platform, prints the result as JSON on stdout (the policy's own prints go to stderr) and
exits 0; on a policy error it prints the error JSON on stderr and exits 1. ``--kind`` also checks the
result's shape (:func:`aios_policy.types.check_output`). JSON options take inline JSON or ``@file``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, List, Optional

from .types import POLICY_KINDS, PolicyError, check_output


def _json_arg(text: Optional[str], what: str) -> Any:
    if text is None:
        return None
    try:
        if text.startswith("@"):
            return json.loads(Path(text[1:]).read_text())
        return json.loads(text)
    except (OSError, ValueError) as e:
        raise SystemExit(f"aios-policy: {what}: {e}")


def run(args: argparse.Namespace) -> int:
    input_data = _json_arg("@" + args.input if not args.input.startswith("@") else args.input, "--input")
    settings = _json_arg(args.settings, "--settings") or {}
    parameters = _json_arg(args.parameters, "--parameters") or {}
    context = _json_arg(args.context, "--context")
    defaults = _json_arg(args.defaults, "--defaults") or {}
    try:
        if args.in_process:
            from .loader import LoadedPolicy

            pol = LoadedPolicy(args.code, "", settings, parameters, defaults.get("settings"), defaults.get("parameters"))
            result = pol.eval(input_data, context)
            json.dumps(result, allow_nan=False)
        else:
            from .client import WorkerClient, worker_argv

            with WorkerClient(worker_argv(args.code)) as c:
                c.init("", settings, parameters, defaults)
                result = c.eval(input_data, context, timeout=args.timeout)
    except PolicyError as e:
        print(json.dumps(e.to_dict()), file=sys.stderr)
        return 1
    except (TypeError, ValueError) as e:
        print(json.dumps({"error": f"result is not JSON: {e}", "kind": "encode"}), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.kind:
        problems = check_output(args.kind, result, input_data if isinstance(input_data, dict) else None)
        for p in problems:
            print(f"aios-policy: {args.kind} result: {p}", file=sys.stderr)
        if problems:
            return 1
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="aios-policy", description="Try AIOS-compatible policies locally.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="evaluate a policy on a JSON input")
    r.add_argument("--code", required=True, help="the policy's code directory (holds function.py)")
    r.add_argument("--input", required=True, help="JSON file with eval's input_data")
    r.add_argument("--settings", help="block settings (JSON or @file)")
    r.add_argument("--parameters", help="block parameters (JSON or @file)")
    r.add_argument("--defaults", help='stored defaults {"settings":{},"parameters":{}} (JSON or @file)')
    r.add_argument("--context", help="eval's context (JSON or @file; default null)")
    r.add_argument("--kind", choices=POLICY_KINDS, help="check the result's shape for this kind")
    r.add_argument("--timeout", type=float, default=30.0, help="deadline for eval, seconds")
    r.add_argument("--in-process", action="store_true", help="import the policy here instead of in a worker")
    c = sub.add_parser("check", help="validate a policy archive (.zip or .tar.gz)")
    c.add_argument("--archive", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "run":
        return run(args)
    from .archive import check_archive

    report = check_archive(args.archive)
    print(report.to_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
