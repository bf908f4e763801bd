"""Micro-benchmark: round-trip latency of a trivial loadBalancer eval over the worker pipe.

    python bench_worker.py [--calls 20000] [--sandbox none|rlimits|bwrap]

Prints p50/p90/p99/max in microseconds, measured by the Python client (so it includes the client's own
encode/decode; the Swift client's numbers will differ slightly). The same worker serves every call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from aios_policy.client import WorkerClient, worker_argv  # noqa: E402
from aios_policy.sandbox import SandboxSpec, build_worker_argv, worker_env  # noqa: E402

POLICY = '''
class AIOSv1PolicyRule:
    def __init__(self, rule_id, settings, parameters):
        self.n = 0
    def eval(self, parameters, input_data, context):
        instances = input_data["instances"]
        self.n += 1
        return {"instance_id": instances[self.n % len(instances)]}
'''


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--sandbox", choices=("none", "rlimits", "bwrap"), default="none")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aios-policy-bench-"))
    os.chmod(tmp, 0o755)
    code = tmp / "code"
    code.mkdir(mode=0o755)
    (code / "function.py").write_text(POLICY)
    os.chmod(code / "function.py", 0o644)
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    if args.sandbox == "none":
        argv = worker_argv(str(code))
    else:
        run_as = (65534, 65534) if os.geteuid() == 0 and args.sandbox == "bwrap" else None
        python = "/usr/bin/python3" if run_as else sys.executable
        spec = SandboxSpec(code_dir=str(code), python=python, sdk_dir=str(HERE), run_as=run_as,
                           mode="bwrap" if args.sandbox == "bwrap" else "rlimits_only")
        argv, env = build_worker_argv(spec), worker_env(spec)
    t0 = time.perf_counter()
    w = WorkerClient(argv, env=env)
    w.init("bench")
    start_ms = (time.perf_counter() - t0) * 1000
    inp = {"mode": "load_balance", "packet": {"session_id": "s-1", "seq_no": 1, "data": {"prompt": "hi"}},
           "instances": ["in-ab12", "in-cd34", "in-ef56"]}
    for _ in range(args.warmup):
        w.eval(inp)
    lat = []
    for _ in range(args.calls):
        t = time.perf_counter_ns()
        w.eval(inp)
        lat.append((time.perf_counter_ns() - t) / 1000)
    w.close()
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]  # noqa: E731
    print(f"sandbox={args.sandbox} calls={args.calls} start+init={start_ms:.1f}ms "
          f"p50={q(0.50):.1f}us p90={q(0.90):.1f}us p99={q(0.99):.1f}us max={lat[-1]:.1f}us "
          f"mean={statistics.fmean(lat):.1f}us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
