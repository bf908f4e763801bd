"""The ``aios-policy`` runner on the shipped examples (each run starts the real worker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aios_policy.client import WorkerClient, worker_argv
from policy_helpers import PKG

ENV = {**os.environ, "PYTHONPATH": str(PKG)}
EX = PKG / "examples"


def aios_policy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aios_policy", *args], env=ENV, capture_output=True, text=True, timeout=60)


def test_cluster_allocator_example() -> None:
    d = EX / "cluster_allocator_most_free_gpu"
    r = aios_policy("run", "--code", str(d / "code"), "--input", str(d / "input.json"),
                    "--parameters", f"@{d / 'parameters.json'}", "--kind", "clusterAllocator")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"clusters": ["cluster-b", "cluster-a"]}
    # stored defaults lose to the block's parameters; without the label, cluster-c qualifies too
    r = aios_policy("run", "--code", str(d / "code"), "--input", str(d / "input.json"), "--in-process",
                    "--defaults", '{"parameters": {"label": "cpu", "max_clusters": 1}}', "--parameters", '{"label": null}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"clusters": ["cluster-b"]}


def test_cluster_allocator_post_dry_run() -> None:
    with WorkerClient(worker_argv(str(EX / "cluster_allocator_most_free_gpu" / "code")), env=ENV) as w:
        w.init()
        best = w.eval({"action": "post_dry_run", "clusters": [
            {"id": "a", "cluster": {}, "score_data": {"score": 0.4}, "block_data": {}},
            {"id": "b", "cluster": {}, "score_data": {"score": 0.9}, "block_data": {}}]})
        assert best["id"] == "b"


def test_load_balancer_pins_sessions() -> None:
    with WorkerClient(worker_argv(str(EX / "load_balancer_session_pinning" / "code")), env=ENV) as w:
        w.init(parameters={"header": "x-session"}, settings={"session_cache_size": 2})
        inst = ["in-1", "in-2", "in-3"]
        pick = lambda user: w.eval({"mode": "load_balance", "packet": {"headers": {"x-session": user}},  # noqa: E731
                                    "instances": inst})["instance_id"]
        first = pick("u1")
        assert all(pick("u1") == first for _ in range(5))
        assert pick("u2") != first
        assert w.management("get_current_mapping", None) == {"u1": first, "u2": pick("u2")}
        inst = [i for i in inst if i != first]  # u1's instance left: re-pinned to a live one
        assert pick("u1") in inst


def test_autoscaler_example_and_kind_check() -> None:
    d = EX / "autoscaler_metric"
    r = aios_policy("run", "--code", str(d / "code"), "--input", str(d / "input.json"), "--kind", "autoscaler")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"skip": False, "operation": "upscale", "instances_count": 2}
    quiet = {"block_data": {"minInstances": 1, "metrics": {"a": {"queue_length": 0}, "b": {"queue_length": 1}}},
             "cluster_data": {}, "current_instances": ["a", "b"]}
    with WorkerClient(worker_argv(str(d / "code")), env=ENV) as w:
        w.init()
        assert w.eval(quiet) == {"skip": False, "operation": "downscale", "instances_list": ["a"]}


def test_runner_reports_policy_errors(tmp_path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "function.py").write_text("class AIOSv1PolicyRule:\n  def __init__(s,*a): pass\n  def eval(s,p,i,c): return i['missing']\n")
    (tmp_path / "in.json").write_text("{}")
    r = aios_policy("run", "--code", str(code), "--input", str(tmp_path / "in.json"))
    assert r.returncode == 1 and json.loads(r.stderr.strip().splitlines()[-1])["kind"] == "eval"
    (tmp_path / "lb.json").write_text('{"instances": ["a"]}')
    (code / "function.py").write_text("class AIOSv1PolicyRule:\n  def __init__(s,*a): pass\n  def eval(s,p,i,c): return {'instance_id': 'zz'}\n")
    r = aios_policy("run", "--code", str(code), "--input", str(tmp_path / "lb.json"), "--kind", "loadBalancer")
    assert r.returncode == 1 and "not one of the offered instances" in r.stderr


@pytest.mark.parametrize("example", ["cluster_allocator_most_free_gpu", "load_balancer_session_pinning", "autoscaler_metric"])
def test_examples_pass_the_archive_check(tmp_path, example: str) -> None:
    import tarfile

    arc = tmp_path / f"{example}.tar.gz"
    with tarfile.open(arc, "w:gz") as tf:
        tf.add(EX / example / "code", arcname="code")
    r = aios_policy("check", "--archive", str(arc))
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout)["warnings"] == []
