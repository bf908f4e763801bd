"""Unit tests of the helpers that do not need a server: Muxer, Batcher, SessionsManager, Context."""

from __future__ import annotations

import json
import threading
import time

import pytest

from aios_instance import (AIOSPacket, Batcher, Context, FileInfo, Muxer, MuxerInputError, OnDataResult,
                           PreProcessResult, SessionsManager, TimeBasedBatcher)
from helpers import packet


def test_preprocess_result_defaults_session_id_to_the_packets() -> None:
    p = packet({"a": 1}, session_id="sess-9")
    assert PreProcessResult(p).session_id == "sess-9"
    assert PreProcessResult(p, {"x": 1}).extra_data == {"x": 1}
    assert PreProcessResult(p, None, "other").session_id == "other"
    assert PreProcessResult(packet=p, extra_data=1, session_id="k").session_id == "k"
    assert OnDataResult({"y": 2}).output == {"y": 2}


def test_muxer_merges_n_packets_with_the_same_key() -> None:
    m = Muxer(3)
    f1 = FileInfo(metadata='{"name": "a"}', file_data=b"A")
    f3 = FileInfo(metadata='{"name": "c"}', file_data=b"C")
    assert m.process_packet(packet({"i": 1}, seq_no=7, files=[f1], output_ptr='{"x":1}')) is None
    assert m.process_packet(packet({"other": True}, seq_no=8)) is None  # another key
    assert m.process_packet(packet({"i": 2}, seq_no=7)) is None
    merged = m.process_packet(packet({"i": 3}, seq_no=7, files=[f3]))
    assert isinstance(merged, AIOSPacket)
    assert json.loads(merged.data) == {"inputs": [{"i": 1}, {"i": 2}, {"i": 3}]}
    assert (merged.session_id, merged.seq_no, merged.output_ptr) == ("s1", 7, '{"x":1}')
    assert [f.file_data for f in merged.files] == [b"A", b"C"]
    assert m.pending() == 1  # seq 8 still waiting


def test_muxer_n1_passes_through_and_bad_json_is_rejected() -> None:
    p = packet(raw="not json")
    assert Muxer(1).process_packet(p) is p
    with pytest.raises(MuxerInputError):
        Muxer(2).process_packet(p)
    with pytest.raises(ValueError):
        Muxer(0)


def test_muxer_evicts_expired_and_excess_groups() -> None:
    m = Muxer(2, timeout_s=0.05)
    assert m.process_packet(packet({"i": 1}, seq_no=1)) is None
    time.sleep(0.1)
    assert m.pending() == 0 and m.evicted == 1
    # The late partner starts a new group instead of completing a stale one.
    assert m.process_packet(packet({"i": 2}, seq_no=1)) is None

    m = Muxer(2, timeout_s=None, max_pending=3)
    for seq in range(10):
        m.process_packet(packet({"i": seq}, seq_no=seq))
    assert m.pending() == 3 and m.evicted == 7
    # The newest groups survived.
    assert m.process_packet(packet({"i": "x"}, seq_no=9)) is not None
    assert m.process_packet(packet({"i": "x"}, seq_no=0)) is None


def test_batcher_counts_flushes_and_times_out() -> None:
    b = Batcher(3)
    assert b.add_to_batch(1) is None and b.add_to_batch(2) is None
    assert b.add_to_batch(3) == [1, 2, 3]
    assert b.add_to_batch(4) is None
    assert len(b) == 1 and b.flush() == [4] and b.flush() == []

    t = Batcher(100, timeout_s=0.05)
    assert t.add_to_batch("a") is None
    time.sleep(0.08)
    assert t.expired()
    assert t.add_to_batch("b") == ["a", "b"]


def test_batcher_is_thread_safe() -> None:
    b = Batcher(7)
    batches = []
    lock = threading.Lock()

    def worker(base: int) -> None:
        for i in range(700):
            got = b.add_to_batch(base + i)
            if got is not None:
                with lock:
                    batches.append(got)

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rest = b.flush()
    seen = [x for batch in batches for x in batch] + rest
    assert all(len(batch) == 7 for batch in batches)
    assert sorted(seen) == sorted(k * 1000 + i for k in range(4) for i in range(700))


def test_time_based_batcher_flushes_on_size_and_time_without_deadlock() -> None:
    flushed = []
    done = threading.Event()

    def cb(batch: list) -> None:
        flushed.append(batch)
        done.set()

    tb = TimeBasedBatcher(2, 0.05, cb)
    tb.add_to_batch(1)
    tb.add_to_batch(2)  # AIOS deadlocked here
    assert flushed == [[1, 2]]
    done.clear()
    tb.add_to_batch(3)
    assert done.wait(2.0)
    assert flushed == [[1, 2], [3]]


def test_sessions_manager_is_an_lru() -> None:
    s = SessionsManager(max_sessions=2)
    s.set("a", {"n": 1})
    s.set("b", {"n": 2})
    assert s.get("a") == {"n": 1}  # a is now the most recent
    s.get_or_create("c")["n"] = 3
    assert "b" not in s and s.keys() == ["a", "c"] and s.evicted == 1
    assert s.get("missing", 5) == 5
    assert s.delete("a") and not s.delete("a")
    assert len(s) == 1 and s.clear() == 1
    s.add_session("x", 1)
    assert s.get_session("x") == 1 and s.remove_session("x")


def test_context_fields_share_the_block_documents_dicts() -> None:
    data = {"blockId": "b", "instanceId": "b-0", "blockInitData": {"max_sessions": 5}, "parameters": {"k": 1},
            "allocation": {"clusterId": "c1", "nodeId": "n1", "gpus": ["0", "1"]}, "simulated": True}
    ctx = Context(data)
    assert (ctx.block_id, ctx.instance_id, ctx.simulated) == ("b", "b-0", True)
    assert ctx.block_init_parameters is data["parameters"]
    assert ctx.block_init_settings is data["initSettings"] == {}
    assert ctx.allocation_info == {"gpus": ["0", "1"], "node_id": "n1", "cluster_id": "c1"}
    assert ctx.sessions.max_sessions == 5
    assert ctx.events.push_event("loaded", {"ms": 3}) is True
    assert ctx.events.recent()[-1]["event_name"] == "loaded"
    with pytest.raises(NotImplementedError):
        ctx.write_ws("s", {})
