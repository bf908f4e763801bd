"""The worker protocol, driven through the real ``python -m aios_policy.worker`` subprocess."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import pytest

from aios_policy.client import DeadlineExceeded, WorkerClient, worker_argv
from aios_policy.protocol import encode_frame
from aios_policy.types import PolicyError
from policy_helpers import ECHO_POLICY, PKG

ENV = {**os.environ, "PYTHONPATH": str(PKG)}


def start(code) -> WorkerClient:
    return WorkerClient(worker_argv(str(code)), env=ENV, stderr=subprocess.PIPE)


def test_init_eval_management_ping_round_trip(make_policy) -> None:
    with start(make_policy(ECHO_POLICY)) as w:
        assert w.ping()["initialised"] is False
        assert w.request({"id": 7, "op": "eval", "input": {}}) == {
            "id": 7, "ok": False, "error": "eval before init", "kind": "protocol", "traceback": ""}
        info = w.init("r-1", settings={"s": 1}, parameters={"gpus": 3},
                      defaults={"settings": {"s": 0, "t": 2}, "parameters": {"gpus": 1, "m": "x"}})
        assert info == {"rule_id": "r-1", "has_management": True}
        reply = w.request({"id": 99, "op": "eval", "input": {"a": [1, "é"]}, "context": {"c": 1}})
        assert reply["id"] == 99 and reply["ok"] is True
        res = reply["result"]
        assert res["parameters"] == {"gpus": 3, "m": "x"} and res["settings"] == {"s": 1, "t": 2}
        assert res["input"] == {"a": [1, "é"]} and res["context"] == {"c": 1} and res["calls"] == 1
        assert w.eval({}, parameters={"m": "y"})["parameters"] == {"gpus": 3, "m": "y"}
        assert w.eval({})["calls"] == 3  # the instance is kept between calls
        assert w.management("stats", {"k": 1}) == {"action": "stats", "data": {"k": 1}, "calls": 3}
        assert w.ping()["initialised"] is True
        assert w.request({"op": "nope"})["kind"] == "protocol"
        assert w.ping()["initialised"] is True  # an unknown op does not end the worker
    assert w.proc.returncode == 0


def test_reinit_reuses_the_import(make_policy) -> None:
    code = make_policy("import itertools\nN = itertools.count()\nLOADS = next(N)\n" + ECHO_POLICY.replace(
        '"rule_id": self.rule_id}', '"rule_id": self.rule_id, "loads": LOADS}'))
    with start(code) as w:
        w.init("a")
        w.init("b", parameters={"x": 1})
        out = w.eval({})
        assert out["rule_id"] == "b" and out["parameters"] == {"x": 1} and out["calls"] == 1 and out["loads"] == 0


def test_prints_and_fd_writes_do_not_corrupt_frames(make_policy) -> None:
    code = make_policy('''
import os, sys
print("import-time noise")
class AIOSv1PolicyRule:
    def __init__(self, *a):
        print("init noise", flush=True)
    def eval(self, parameters, input_data, context):
        print("eval noise " * 100)
        sys.stdout.write("more")
        sys.stdout.flush()
        os.write(1, b"\\x00\\x00\\x00\\x05raw!!")
        try:
            data = sys.stdin.read()   # stdin is /dev/null, not the protocol
        except Exception as e:
            data = repr(e)
        return {"ok": input_data, "stdin": data}
''')
    with start(code) as w:
        w.init()
        for i in range(3):
            assert w.eval(i) == {"ok": i, "stdin": ""}
        w.close()
        err = w.proc.stderr.read().decode()
    assert "import-time noise" in err and "eval noise" in err and "raw!!" in err


def test_eval_exception_is_an_error_reply_and_the_worker_lives(make_policy) -> None:
    code = make_policy('''
class AIOSv1PolicyRule:
    def __init__(self, *a): pass
    def eval(self, parameters, input_data, context):
        if input_data == "exit":
            raise SystemExit(3)
        raise KeyError("instances")
''')
    with start(code) as w:
        w.init()
        r = w.request({"op": "eval", "input": {}})
        assert r["ok"] is False and r["kind"] == "eval" and r["error"] == "KeyError: 'instances'"
        assert "function.py" in r["traceback"] and "KeyError" in r["traceback"]
        assert w.request({"op": "eval", "input": "exit"})["kind"] == "eval"
        assert w.ping()["initialised"] is True


def test_import_and_init_errors(make_policy) -> None:
    with start(make_policy("raise ImportError('needs torch')\n")) as w:
        r = w.request({"op": "init"})
        assert (r["ok"], r["kind"]) == (False, "import") and "needs torch" in r["error"]
        assert w.ping()["initialised"] is False
    with start(make_policy("class AIOSv1PolicyRule:\n  def __init__(s, a, b, c): raise ValueError('bad\\nsettings')\n  def eval(s,*a): pass\n")) as w:
        r = w.request({"op": "init"})
        assert (r["ok"], r["kind"], r["error"]) == (False, "init", "ValueError: bad settings")
    with start(make_policy(ECHO_POLICY)) as w:
        assert w.request({"op": "init", "settings": [1]})["kind"] == "protocol"


def test_non_json_results_are_encode_errors(make_policy) -> None:
    code = make_policy('''
class AIOSv1PolicyRule:
    def __init__(self, *a): pass
    def eval(self, parameters, input_data, context):
        return {"set": {1, 2}} if input_data == "set" else (float("nan") if input_data == "nan" else ("fine", 1))
    def management(self, action, data):
        return object()
''')
    with start(code) as w:
        w.init()
        for bad in ("set", "nan"):
            r = w.request({"op": "eval", "input": bad})
            assert (r["ok"], r["kind"]) == (False, "encode"), r
        assert w.request({"op": "management", "action": "x"})["kind"] == "encode"
        assert w.eval("ok") == ["fine", 1]


def test_deadline_kills_a_stuck_worker(make_policy) -> None:
    code = make_policy("import time\nclass AIOSv1PolicyRule:\n  def __init__(s,*a): pass\n  def eval(s,*a): time.sleep(60)\n")
    w = start(code)
    w.init()
    with pytest.raises(DeadlineExceeded):
        w.eval({}, timeout=0.3)
    assert w.proc.returncode is not None
    w.close()


@pytest.mark.parametrize("payload", [
    b"\x00\x00\x00\x03abc",  # not JSON
    b"\x00\x00\x00\x02[]",  # JSON but not an object
    b"\x00\x00\x00\x02\xff\xfe",  # not UTF-8
    struct.pack(">I", 64 * 1024 * 1024),  # oversized (over 16 MiB), body never sent
])
def test_malformed_frames_get_a_protocol_error_then_exit_3(make_policy, payload: bytes) -> None:
    w = start(make_policy(ECHO_POLICY))
    w.send_raw(payload)
    r = w.read_reply(timeout=10)
    assert r["ok"] is False and r["kind"] == "protocol" and r["id"] is None
    assert w.proc.wait(10) == 3
    w.close()


def test_truncated_frame_exits_3_and_clean_eof_exits_0(make_policy) -> None:
    w = start(make_policy(ECHO_POLICY))
    w.send_raw(b"\x00\x00\x00\x10{\"op\"")
    w.proc.stdin.close()
    assert w.proc.wait(10) == 3
    w.close()
    w = start(make_policy(ECHO_POLICY))
    w.ping()
    assert w.close() == 0


def test_shutdown_op_and_frame_bytes_are_compact(make_policy) -> None:
    w = start(make_policy(ECHO_POLICY))
    w.send_raw(encode_frame({"id": 1, "op": "ping"}))
    head = os.read(w.rfd, 4)
    (n,) = struct.unpack(">I", head)
    body = b""
    while len(body) < n:
        body += os.read(w.rfd, n - len(body))
    assert b": " not in body and b", " not in body and json.loads(body)["ok"] is True
    assert w.request({"id": 5, "op": "shutdown"}) == {"id": 5, "ok": True, "result": None}
    assert w.proc.wait(10) == 0
    w.close()


def test_cli_usage_error_exits_2() -> None:
    r = subprocess.run([sys.executable, "-m", "aios_policy.worker"], env=ENV, capture_output=True)
    assert r.returncode == 2
