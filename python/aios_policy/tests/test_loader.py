from __future__ import annotations

import pytest

from aios_policy.loader import LoadedPolicy, load_module, merge
from aios_policy.types import PolicyError, check_output, parse_policy_uri
from policy_helpers import ECHO_POLICY


def test_merge_block_values_win_shallow_per_key() -> None:
    defaults = {"gpus": 1, "mode": "greedy", "nested": {"a": 1, "b": 2}}
    block = {"gpus": 3, "nested": {"a": 9}}
    assert merge(defaults, block) == {"gpus": 3, "mode": "greedy", "nested": {"a": 9}}
    assert merge(None, None) == {}
    assert merge({"x": 1}, None) == {"x": 1}
    with pytest.raises(PolicyError):
        merge({"x": 1}, [1, 2])  # type: ignore[arg-type]


def test_loaded_policy_merges_and_calls(make_policy) -> None:
    code = make_policy(ECHO_POLICY)
    pol = LoadedPolicy(code, "rule-1", settings={"s": "block"}, parameters={"gpus": 3},
                       default_settings={"s": "stored", "t": 1}, default_parameters={"gpus": 1, "mode": "x"})
    out = pol.eval({"k": 1})
    assert out["parameters"] == {"gpus": 3, "mode": "x"}
    assert out["settings"] == {"s": "block", "t": 1}
    assert out["rule_id"] == "rule-1" and out["context"] is None
    # per-call parameters overlay the merged ones for that call only
    assert pol.eval({}, parameters={"mode": "y"})["parameters"] == {"gpus": 3, "mode": "y"}
    assert pol.eval({})["parameters"] == {"gpus": 3, "mode": "x"}
    assert pol.management("ping", {"a": 1}) == {"action": "ping", "data": {"a": 1}, "calls": 3}


def test_two_policies_do_not_clobber_each_other(make_policy) -> None:
    a = make_policy("X = 'a'\nclass AIOSv1PolicyRule:\n  def __init__(s,*a): pass\n  def eval(s,p,i,c): return X\n")
    b = make_policy("X = 'b'\nclass AIOSv1PolicyRule:\n  def __init__(s,*a): pass\n  def eval(s,p,i,c): return X\n")
    pa, pb = LoadedPolicy(a), LoadedPolicy(b)
    assert (pa.eval(None), pb.eval(None)) == ("a", "b")
    assert pa.module.__name__ != pb.module.__name__ and "function" not in (pa.module.__name__, pb.module.__name__)


def test_load_errors_have_kinds(make_policy, tmp_path) -> None:
    with pytest.raises(PolicyError) as e:
        load_module(tmp_path / "nowhere")
    assert e.value.kind == "import"
    with pytest.raises(PolicyError) as e:
        LoadedPolicy(make_policy("class Other: pass\n"))
    assert e.value.kind == "import" and "AIOSv1PolicyRule" in e.value.message
    with pytest.raises(PolicyError) as e:
        LoadedPolicy(make_policy("import no_such_module_xyz\n"))
    assert e.value.kind == "import" and "no_such_module_xyz" in e.value.message
    with pytest.raises(PolicyError) as e:
        LoadedPolicy(make_policy("class AIOSv1PolicyRule:\n  def __init__(s,*a): raise RuntimeError('boom')\n  def eval(s,*a): pass\n"))
    assert e.value.kind == "init" and "RuntimeError: boom" in e.value.message and "boom" in e.value.traceback
    pol = LoadedPolicy(make_policy("class AIOSv1PolicyRule:\n  def __init__(s,*a): pass\n  def eval(s,*a): return 1/0\n"))
    with pytest.raises(PolicyError) as e:
        pol.eval({})
    assert e.value.kind == "eval" and e.value.message.startswith("ZeroDivisionError")
    with pytest.raises(PolicyError) as e:
        pol.management("x", None)
    assert "no management" in e.value.message


def test_policy_can_import_its_sibling_module(make_policy) -> None:
    code = make_policy("from helper_mod_q import VALUE\nclass AIOSv1PolicyRule:\n  def __init__(s,*a): pass\n  def eval(s,*a): return VALUE\n")
    (code / "helper_mod_q.py").write_text("VALUE = 42\n")
    assert LoadedPolicy(code).eval(None) == 42


def test_policy_uri_and_output_checks() -> None:
    u = parse_policy_uri("policy.loadBalancer.roundrobin:v0.0.1")
    assert (u.kind, u.name, u.version, str(u)) == ("loadBalancer", "roundrobin", "v0.0.1", "policy.loadBalancer.roundrobin:v0.0.1")
    with pytest.raises(ValueError):
        parse_policy_uri("loadBalancer.roundrobin")
    assert check_output("loadBalancer", {"instance_id": "a"}, {"instances": ["a"]}) == []
    assert check_output("loadBalancer", {"instance_id": "z"}, {"instances": ["a"]})
    assert check_output("autoscaler", {"skip": True}) == []
    assert check_output("autoscaler", {"skip": False, "operation": "upscale", "instances_count": 2}) == []
    assert check_output("autoscaler", {"skip": False})
    assert check_output("clusterAllocator", {"clusters": ["c"]}, {"action": "selection"}) == []
    assert check_output("clusterAllocator", {"id": "c"}, {"action": "post_dry_run"}) == []
    assert check_output("resourceAllocator", {"node_id": "n", "gpus": [0, 1]}, {"action": "allocation"}) == []
    assert check_output("resourceAllocator", {"node_id": "n", "gpus": ["0"]}, {"action": "allocation"})
    assert check_output("quotaChecker", {"allowed": True}) == []
