"""split_block.py: SmolLM2 split over three blocks served by the real SDK, chained the way the vDAG runner does.

Three ``SplitBlock`` instances (layers [0,10), [10,20), [20,30)) are served in-process by ``aios_instance``'s
``Block`` on loopback ports and called through the generated gRPC stub. ``chain()`` does what
``VDAGRunner.join`` does for a node with one parent: the request packet (the client's session_id and seq_no)
with the parent's output ``data``, ``files`` and ``output_ptr``. One more split runs as a real instance process
(``python split_block.py`` with the runtime's environment) for the eviction test.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent import futures
from typing import Any, Dict, Iterator, List, Optional

import grpc
import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
REPO = os.path.abspath(os.path.join(EXAMPLE, "..", ".."))
SDK_TESTS = os.path.join(REPO, "python", "aios_instance", "tests")
if SDK_TESTS not in sys.path:
    sys.path.insert(0, SDK_TESTS)

import llama_numpy  # noqa: E402
import split_block  # noqa: E402
import split_chat  # noqa: E402
from aios_instance import AIOSPacket  # noqa: E402
from aios_instance.proto import aios_instance_pb2 as pb  # noqa: E402
from helpers import PYTHON, InstanceProcess, Served  # noqa: E402  (the SDK's test helpers)

PROMPTS = ["Write a haiku about the sea.", "What is the capital of France?"]
RANGES = [(0, 10), (10, 20), (20, 30)]
HIDDEN_KEYS = {"position", "n", "tokens", "sampling", "layer"}
TOKEN_KEYS = {"token", "text", "eos", "position", "top"}


def block_doc(layers: Optional[List[int]], **init: Any) -> Dict[str, Any]:
    data: Dict[str, Any] = dict(init)
    if layers is not None:
        data["layers"] = layers
    return {"blockId": f"smollm2-split-{layers}", "instanceId": "i0", "componentURI": "model.smollm2-split:0.1.0-stable",
            "blockInitData": data, "initSettings": {}, "parameters": {}, "policies": {},
            "allocation": {"clusterId": "local", "nodeId": "node-1", "gpus": []}, "simulated": False}


class Chain:
    """Three served splits and the vDAG runner's way of passing one node's output to the next."""

    def __init__(self, served: List[Served]) -> None:
        self.served = served
        self.seq = 0

    def call(self, index: int, pkt: AIOSPacket) -> AIOSPacket:
        reply = self.served[index].client.stub.Infer(pb.InferRequest(packet=pkt), timeout=30)
        assert len(reply.outputs) == 1
        return reply.outputs[0]

    def run(self, data: Dict[str, Any], session: str, start: int = 0,
            packets: Optional[List[AIOSPacket]] = None) -> Dict[str, Any]:
        """Sends ``data`` through splits ``start..2``; returns the last output's data (every output to ``packets``)."""
        self.seq += 1
        request = AIOSPacket(session_id=session, seq_no=self.seq, ts=time.time(), data=json.dumps(data))
        pkt = request
        out = None
        for i in range(start, len(self.served)):
            out = self.call(i, pkt)
            if packets is not None:
                packets.append(out)
            pkt = AIOSPacket()  # VDAGRunner.join: the request, with the parent's data, files and output_ptr
            pkt.CopyFrom(request)
            pkt.data = out.data
            del pkt.files[:]
            pkt.files.extend(out.files)
            pkt.output_ptr = out.output_ptr
        assert out is not None and len(out.files) == 0, "the last split's output carries no file"
        return json.loads(out.data)

    def manage(self, index: int, action: str, data: Any = None) -> Any:
        return json.loads(self.served[index].client.manage(action, data).result_json)


@pytest.fixture(scope="module")
def chain(gguf_path: str, model: Any) -> Iterator[Chain]:
    served: List[Served] = []
    readers: Dict[str, Any] = {}
    open_reader = llama_numpy._open_reader

    def shared_reader(path: str) -> Any:  # parse the GGUF once for the three splits (~1.8 s each otherwise)
        if path not in readers:
            readers[path] = open_reader(path)
        return readers[path]

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(llama_numpy, "_open_reader", shared_reader)
            for a, b in RANGES:
                served.append(Served(split_block.SplitBlock, block_doc([a, b])))
        readers.clear()
        yield Chain(served)
    finally:
        for s in served:
            s.close()
            s.instance.close()


def rpc_error(fn: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value


def generate(chain: Chain, first: Dict[str, Any], steps: int, session: str,
             first_packets: Optional[List[AIOSPacket]] = None) -> List[Dict[str, Any]]:
    """A turn and ``steps`` decode steps (continuing past EOS, like generate(..., stop_tokens=[]))."""
    outs = [chain.run(first, session, packets=first_packets)]
    for _ in range(steps):
        prev = outs[-1]
        outs.append(chain.run({"token": prev["token"], "position": prev["position"]}, session))
    return outs


# ------------------------------------------------------------------------------------------------ equality


@pytest.mark.parametrize("text", PROMPTS)
def test_greedy_chain_equals_unsplit_generate(chain: Chain, model: Any, tokenizer: Any, text: str,
                                              report: List[str]) -> None:
    prompt = llama_numpy.chat_prompt_tokens(tokenizer, text)
    reference = model.generate(prompt, 12, [])  # greedy, no stop token: 12 forward passes
    packets: List[AIOSPacket] = []
    t0 = time.perf_counter()
    outs = generate(chain, {"prompt": text}, 11, f"eq-{len(text)}", packets)
    elapsed = time.perf_counter() - t0
    tokens = [o["token"] for o in outs]
    assert tokens == reference

    # Exact shapes between the splits (the prefill step).
    for i, pkt in enumerate(packets[:2]):
        data = json.loads(pkt.data)
        assert set(data) == HIDDEN_KEYS
        assert data == {"position": 0, "n": len(prompt), "tokens": prompt, "sampling": {}, "layer": RANGES[i][1]}
        assert len(pkt.files) == 1
        assert json.loads(pkt.files[0].metadata) == {"name": "hidden", "format": "AIOST1", "dtype": "float32",
                                                     "shape": [len(prompt), 576]}
        hidden = llama_numpy.decode_tensor(pkt.files[0].file_data)
        assert hidden.shape == (len(prompt), 576) and hidden.dtype == np.float32
        assert len(pkt.files[0].file_data) == 6 + 1 + 3 + 1 + 8 + len(prompt) * 576 * 4
    # The last split's replies.
    for k, o in enumerate(outs):
        assert set(o) == TOKEN_KEYS
        assert o["position"] == len(prompt) + k
        assert o["eos"] == (o["token"] == 2)
        assert len(o["top"]) == 5 and o["top"][0][0] == o["token"]
        assert all(a[1] >= b[1] for a, b in zip(o["top"], o["top"][1:]))
    kept = tokens[: tokens.index(2)] if 2 in tokens else tokens
    text_out = "".join(o["text"] for o in outs[: len(kept)])
    assert text_out == tokenizer.detokenize(kept).decode("utf-8", errors="replace")
    report.append(f"3 in-process splits over gRPC, {text!r}: prompt {len(prompt)} tok, 12 tokens in {elapsed:.2f} s "
                  f"({12 / elapsed:.1f} tok/s incl. prefill; text {text_out!r})")


def test_decode_speed_through_three_splits(chain: Chain, tokenizer: Any, report: List[str]) -> None:
    first = chain.run({"prompt": PROMPTS[0]}, "speed")
    t0 = time.perf_counter()
    out = first
    for _ in range(16):
        out = chain.run({"token": out["token"], "position": out["position"]}, "speed")
    dt = time.perf_counter() - t0
    health = [s.client.health() for s in chain.served]
    compute = [json.loads(h.details_json)["stats"]["compute_s"] for h in health]
    report.append(f"decode through 3 in-process splits (gRPC + AIOST1): {16 / dt:.1f} tok/s "
                  f"(compute per split so far: {compute} s)")
    assert out["position"] == first["position"] + 16


def test_messages_turn(chain: Chain, tokenizer: Any) -> None:
    packets: List[AIOSPacket] = []
    a = chain.run({"messages": [{"role": "user", "content": PROMPTS[0]}]}, "msg", packets=packets)
    b = chain.run({"prompt": PROMPTS[0]}, "msg")
    assert a["token"] == b["token"] and a["position"] == b["position"]
    assert json.loads(packets[0].data)["tokens"] == llama_numpy.chat_prompt_tokens(tokenizer, PROMPTS[0])
    convo = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
             {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}]
    text = llama_numpy.chat_messages_prompt(tokenizer, convo)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                    "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                    "<|im_start|>assistant\n")
    out = chain.run({"messages": convo}, "msg")  # a new turn: the cache is reset, positions start at 0
    assert out["position"] == len(llama_numpy.chat_messages_tokens(tokenizer, convo))


# ------------------------------------------------------------------------------------------------ positions


def test_wrong_position_is_refused_naming_both(chain: Chain) -> None:
    out = chain.run({"prompt": PROMPTS[1]}, "pos")
    p = out["position"]
    e = rpc_error(lambda: chain.run({"token": out["token"], "position": p + 3}, "pos"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"expected position {p}, received position {p + 3}" in e.details()
    assert "split [0, 10)" in e.details() and "'pos'" in e.details()

    # The middle split refuses a hidden state that skips positions, whatever the first split did.
    first = chain.call(0, AIOSPacket(session_id="pos", seq_no=9, data=json.dumps({"token": out["token"]})))
    data = json.loads(first.data)
    assert data["position"] == p
    data["position"] = p + 5
    bad = AIOSPacket(session_id="pos", seq_no=9, data=json.dumps(data))
    bad.files.extend(first.files)
    e = rpc_error(lambda: chain.call(1, bad))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"expected position {p}, received position {p + 5}" in e.details() and "split [10, 20)" in e.details()

    # A retried step (same position) is fine: the first split rewinds, the others run on.
    again = chain.run({"token": out["token"], "position": p}, "pos")
    assert again["position"] == p + 1


def test_decode_step_without_context_is_refused(chain: Chain) -> None:
    e = rpc_error(lambda: chain.run({"token": 42}, "nobody"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "has no context" in e.details()
    e = rpc_error(lambda: chain.run({"token": 42, "position": 7}, "nobody2"))
    assert "expected position 0, received position 7" in e.details()


def test_reprefill_after_dropping_the_middle_session(chain: Chain, model: Any, tokenizer: Any) -> None:
    prompt = llama_numpy.chat_prompt_tokens(tokenizer, PROMPTS[0])
    reference = model.generate(prompt, 6, [])
    outs = generate(chain, {"prompt": PROMPTS[0]}, 3, "rp")
    assert [o["token"] for o in outs] == reference[:4]
    assert chain.manage(1, "reset", {"session_id": "rp"}) == {"reset": True, "sessions_cleared": 1}

    last = outs[-1]
    e = rpc_error(lambda: chain.run({"token": last["token"], "position": last["position"]}, "rp"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"expected position 0, received position {last['position']}" in e.details()
    assert "split [10, 20)" in e.details()

    # Re-prefill everything the session had (prompt + kept tokens) from position 0: same next token.
    fed = prompt + reference[:4]
    out = chain.run({"tokens": fed, "position": 0}, "rp")
    assert out["token"] == reference[4] and out["position"] == len(fed)
    # Re-prefill from a later position (every split truncates): same again, then decoding goes on.
    out = chain.run({"tokens": fed[len(prompt):], "position": len(prompt)}, "rp")
    assert out["token"] == reference[4] and out["position"] == len(fed)
    out = chain.run({"token": out["token"], "position": out["position"]}, "rp")
    assert out["token"] == reference[5]
    for i in range(3):
        sessions = chain.manage(i, "sessions")["sessions"]
        assert [s["length"] for s in sessions if s["session_id"] == "rp"] == [len(fed) + 1]


# ------------------------------------------------------------------------------------------------ sampling


def test_seeded_sampling_is_reproducible(chain: Chain) -> None:
    params = {"temperature": 0.9, "seed": 7, "top_k": 20}
    runs = []
    for session in ("samp-a", "samp-b"):
        outs = [chain.run({"prompt": PROMPTS[0], **params}, session)]
        for _ in range(4):
            # Sampling is given on the turn only: the first split reuses the session's.
            outs.append(chain.run({"token": outs[-1]["token"], "position": outs[-1]["position"]}, session))
        runs.append([o["token"] for o in outs])
    assert runs[0] == runs[1]
    first = chain.call(0, AIOSPacket(session_id="samp-c", data=json.dumps({"prompt": "Hi", **params})))
    assert json.loads(first.data)["sampling"] == params  # passed on unchanged

    logits = np.array([0.0, 5.0, 4.9, -3.0], dtype=np.float32)
    assert split_block.pick_token(logits, {}, 3) == 1
    assert split_block.pick_token(logits, {"temperature": 5.0, "top_k": 1, "seed": 1}, 3) == 1
    draws = {split_block.pick_token(logits, {"temperature": 1.0, "top_k": 2, "seed": s}, 3) for s in range(40)}
    assert draws == {1, 2}
    assert split_block.pick_token(logits, {"temperature": 1.0, "seed": 5}, 9) == \
        split_block.pick_token(logits, {"temperature": 1.0, "seed": 4}, 10)  # seed + position


# ------------------------------------------------------------------------------------------------ management


def test_management_sessions_reset_and_health(chain: Chain) -> None:
    for i in range(3):
        chain.manage(i, "reset")
    chain.run({"prompt": "One"}, "m1")
    chain.run({"prompt": "Two, a little longer"}, "m2")
    listing = chain.manage(1, "sessions")
    assert listing["count"] == 2 and listing["layers"] == [10, 20] and listing["max_sessions"] == 64
    by_id = {s["session_id"]: s for s in listing["sessions"]}
    assert set(by_id) == {"m1", "m2"} and by_id["m1"]["length"] < by_id["m2"]["length"]
    assert by_id["m1"]["kv_bytes"] == 10 * 2 * 3 * 256 * 64 * 4  # 10 layers, K+V, 3 heads, 256 positions, 64 dims
    assert listing["kv_bytes"] == 2 * by_id["m1"]["kv_bytes"]
    assert chain.manage(1, "reset", {"session_id": "m1"}) == {"reset": True, "sessions_cleared": 1}
    assert chain.manage(1, "reset", {"session_id": "m1"}) == {"reset": True, "sessions_cleared": 0}
    assert [s["session_id"] for s in chain.manage(1, "sessions")["sessions"]] == ["m2"]
    assert chain.manage(1, "reset") == {"reset": True, "sessions_cleared": 1}
    assert chain.manage(1, "sessions")["count"] == 0
    e = rpc_error(lambda: chain.served[1].client.manage("bogus"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "reset, sessions" in e.details()

    roles = []
    for i, s in enumerate(chain.served):
        h = s.client.health()
        details = json.loads(h.details_json)
        assert h.status == "healthy" and details["layers"] == list(RANGES[i]) and details["n_layers"] == 30
        assert details["memory"]["weights_bytes"] > 0 and details["memory"]["rss_bytes"] > 0
        roles.append(details["role"])
    assert roles == ["first", "middle", "last"]
    weights = [json.loads(s.client.health().details_json)["memory"]["weights_bytes"] for s in chain.served]
    # embeddings (49152 x 576) only in the first split, the tied head in the last one
    assert weights[0] == weights[1] + 49152 * 576 * 4 and abs(weights[2] - weights[0]) == 576 * 4


def test_bad_inputs(chain: Chain) -> None:
    first = chain.call(0, AIOSPacket(session_id="bad", data=json.dumps({"prompt": "Hi"})))
    cases = [
        (0, AIOSPacket(session_id="bad", data="not json"), "not JSON"),
        (0, AIOSPacket(session_id="bad", data=json.dumps({"hello": 1})), "expected {\"prompt\": str}"),
        (0, AIOSPacket(session_id="bad", data=first.data), "not a hidden state"),
        (0, AIOSPacket(session_id="bad", data=json.dumps({"prompt": "x", "temperature": -1})), "temperature"),
        (0, AIOSPacket(session_id="bad", data=json.dumps({"token": 10 ** 6})), "outside [0, 49152)"),
        (0, AIOSPacket(session_id="bad", data=json.dumps({"tokens": [1, 2]})), "needs \"position\""),
        (0, AIOSPacket(session_id="bad", data=json.dumps({"messages": [{"role": "user"}]})), "content"),
        (1, AIOSPacket(session_id="bad", data=json.dumps({"prompt": "Hi"})), "missing ['position', 'n', 'tokens']"),
        (1, AIOSPacket(session_id="bad", data=first.data), "no file named \"hidden\""),
    ]
    skip = AIOSPacket(session_id="bad", data=first.data)
    skip.files.extend(first.files)
    cases.append((2, skip, "enters layer 10 but this split starts at layer 20"))
    short = AIOSPacket(session_id="bad", data=first.data)
    short.files.add(metadata=json.dumps({"name": "hidden"}), file_data=first.files[0].file_data[:-4])
    cases.append((1, short, "bad hidden file"))
    for index, pkt, needle in cases:
        e = rpc_error(lambda: chain.call(index, pkt))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (needle, e.details())
        assert needle in e.details(), (needle, e.details())


# ------------------------------------------------------------------------------------------------ one split, processes


def test_one_split_holding_every_layer(model: Any, tokenizer: Any, gguf_path: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def whole(path: str, start: int = 0, end: Optional[int] = None) -> Any:  # the session's model, no reload
        assert (start, end) == (0, None)
        m = llama_numpy.Model(model.config, model.token_embd, model.layers, model.output_norm)
        m.layer_range, m.has_embeddings, m.has_head = (0, 30), True, True
        m.weights_nbytes = llama_numpy.model_nbytes(m)
        return m

    monkeypatch.setattr(split_block.llama_numpy, "load_model_range", whole)
    s = Served(split_block.SplitBlock, block_doc(None))  # no "layers": all of them
    try:
        prompt = llama_numpy.chat_prompt_tokens(tokenizer, PROMPTS[1])
        reference = model.generate(prompt, 8, [2])
        out = json.loads(s.client.infer({"prompt": PROMPTS[1]}, session_id="w").outputs[0].data)
        tokens = []
        while not out["eos"] and len(tokens) < 8:
            tokens.append(out["token"])
            out = json.loads(s.client.infer({"token": out["token"]}, session_id="w").outputs[0].data)
        assert tokens == reference
        assert json.loads(s.client.health().details_json)["role"] == "whole"
    finally:
        s.close()
        s.instance.close()


def test_instance_process_evicts_sessions(chain: Chain, tmp_path: Any, report: List[str]) -> None:
    """The middle split as the runtime starts it, max_sessions 2 and session_idle_s 1."""
    doc = block_doc([10, 20], max_sessions=2, session_idle_s=1)
    proc = InstanceProcess([PYTHON, "split_block.py"], cwd=EXAMPLE, block_file=str(tmp_path / "block.json"),
                           block_data=doc, block_id="smollm2-split-1", instance_id="smollm2-split-1-a",
                           extra_env={"OPENBLAS_NUM_THREADS": "1"})
    try:
        proc.wait_ready(90)
        client = proc.client
        assert client is not None
        hiddens = {}
        for sid in ("ev-a", "ev-b", "ev-c"):
            out = chain.call(0, AIOSPacket(session_id=sid, data=json.dumps({"prompt": sid})))
            hiddens[sid] = out
            reply = client.stub.Infer(pb.InferRequest(packet=AIOSPacket(session_id=sid, data=out.data,
                                                                        files=out.files)), timeout=30)
            assert len(reply.outputs) == 1 and len(reply.outputs[0].files) == 1
        listing = json.loads(client.manage("sessions").result_json)
        assert [s["session_id"] for s in listing["sessions"]] == ["ev-b", "ev-c"]
        assert listing["evicted"] == {"lru": 1, "idle": 0}
        # ev-a's next step reaches a split that forgot it.
        step = chain.call(0, AIOSPacket(session_id="ev-a", data=json.dumps({"token": 30})))
        e = rpc_error(lambda: client.stub.Infer(pb.InferRequest(packet=AIOSPacket(
            session_id="ev-a", data=step.data, files=step.files)), timeout=30))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"expected position 0, received position {json.loads(step.data)['position']}" in e.details()
        health = json.loads(client.health().details_json)
        report.append(f"middle split as a process: rss {health['memory']['rss_bytes'] / 2 ** 20:.0f} MiB, "
                      f"weights {health['memory']['weights_bytes'] / 2 ** 20:.0f} MiB, load {health['load_s']} s")
        time.sleep(1.4)
        listing = json.loads(client.manage("sessions").result_json)
        assert listing["count"] == 0 and listing["evicted"]["idle"] >= 2
    finally:
        proc.close()


# ------------------------------------------------------------------------------------------------ driver


class FakeController:
    """A vDAG controller serving /vDAGInferenceService/infer over the three splits (VDAGRunner's chaining)."""

    def __init__(self, chain: Chain) -> None:
        import vdag_service_pb2
        import vdag_service_pb2_grpc

        self.chain = chain
        self.calls: List[Dict[str, Any]] = []
        self.before_call: Any = None
        controller = self

        class Servicer(vdag_service_pb2_grpc.vDAGInferenceServiceServicer):
            def infer(self, request: Any, context: Any) -> Any:
                data = json.loads(request.data)
                controller.calls.append(data)
                if controller.before_call is not None:
                    controller.before_call(len(controller.calls), request.session_id)
                try:
                    out = chain.run(data, request.session_id)
                except grpc.RpcError as e:
                    context.abort(e.code(), f"vDAG smollm2-split: {e.details()}")
                return vdag_service_pb2.vDAGInferencePacket(session_id=request.session_id, seq_no=request.seq_no,
                                                            data=json.dumps(out), ts=time.time())

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        vdag_service_pb2_grpc.add_vDAGInferenceServiceServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def close(self) -> None:
        self.server.stop(0)


def test_split_chat_driver(chain: Chain, model: Any, tokenizer: Any, report: List[str]) -> None:
    controller = FakeController(chain)
    try:
        address = f"127.0.0.1:{controller.port}"
        prompt = llama_numpy.chat_prompt_tokens(tokenizer, PROMPTS[1])
        reference = model.generate(prompt, 12, [2])
        result = split_chat.run(split_chat.parse_args([address, "--prompt", PROMPTS[1], "--max-tokens", "12",
                                                       "--session", "drv"]))
        assert result["ok"] and result["tokens"] == reference
        assert result["finish"] == ("eos" if len(reference) < 12 else "length")
        assert result["text"] == tokenizer.detokenize(reference).decode("utf-8")
        assert controller.calls[0] == {"prompt": PROMPTS[1]} and set(controller.calls[1]) == {"token", "position"}
        report.append(f"split_chat.py (fake controller, 3 in-process splits): {result['text']!r}, "
                      f"{result['tokens_per_s']} tok/s overall, decode {result['decode_tokens_per_s']} tok/s")

        # A split loses the session mid-turn: the driver sends the turn again and re-prefills.
        controller.calls.clear()
        dropped = threading.Event()

        def drop(n: int, session: str) -> None:
            if n == 4 and not dropped.is_set():
                dropped.set()
                chain.manage(2, "reset", {"session_id": session})

        controller.before_call = drop
        result = split_chat.run(split_chat.parse_args([address, "--prompt", PROMPTS[1], "--max-tokens", "12",
                                                       "--session", "drv2"]))
        assert result["ok"] and result["recovered"] == 1 and result["tokens"] == reference
        assert {"tokens", "position"} <= set(controller.calls[5])

        # Unrecoverable: the controller is gone.
        controller.close()
        result = split_chat.run(split_chat.parse_args([address, "--prompt", "x", "--timeout", "2"]))
        assert not result["ok"] and result["code"] == "UNAVAILABLE"
    finally:
        controller.close()


# ------------------------------------------------------------------------------------------------ specs


def _values(name: str) -> Dict[str, Any]:
    with open(os.path.join(EXAMPLE, name), encoding="utf-8") as f:
        return json.load(f)["body"]["spec"]["values"]


def test_specs_describe_the_three_blocks_and_the_vdag() -> None:
    component = _values("component.json")
    assert component["runtime"] == {"type": "process", "command": ["python3", "split_block.py"], "cwd": ".",
                                    "env": {"OPENBLAS_NUM_THREADS": "1"}}
    cid = component["componentId"]
    uri = f"model.{cid['name']}:{cid['version']}-{cid['releaseTag']}"
    assert component["componentMetadata"]["model_name"] == "SmolLM2-135M-Instruct"
    assert component["componentMetadata"]["n_layers"] == 30
    ids = []
    for i, (a, b) in enumerate(RANGES):
        block = _values(f"blocks/split-{i}.json")
        assert block["blockId"] == f"smollm2-split-{i}" and block["blockComponentURI"] == uri
        assert block["blockInitData"]["layers"] == [a, b]
        assert (block["minInstances"], block["maxInstances"]) == (1, 1)
        (rule,) = [r["values"] for r in block["policyRulesSpec"] if r["values"]["name"] == "resourceAllocator"]
        assert rule["parameters"]["gpus"] == 0 and rule["parameters"]["cpus"] == 0.5 and rule["parameters"]["memory"] >= 256
        ids.append(block["blockId"])
    vdag = _values("vdag.json")
    assert (vdag["vdagName"], vdag["vdagVersion"]) == ("smollm2-split", {"version": "0.0.1", "release-tag": "stable"})
    assert vdag["controller"]["initSettings"]["maxOutputWaitTimeSeconds"] == 30
    labels = [n["spec"]["values"]["nodeLabel"] for n in vdag["nodes"]]
    assert [n["spec"]["values"]["manualBlockId"] for n in vdag["nodes"]] == ids
    graph = vdag["graph"]
    assert graph["input"][0]["nodeLabel"] == labels[0] and graph["output"][0]["nodeLabel"] == labels[2]
    assert [(c["nodeLabel"], [p["nodeLabel"] for p in c["inputs"]]) for c in graph["connections"]] == \
        [(labels[1], [labels[0]]), (labels[2], [labels[1]])]
