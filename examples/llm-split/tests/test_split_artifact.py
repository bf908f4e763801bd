"""split_block.py with ``blockInitData.artifact``: a split's GGUF subset served over HTTP, downloaded, checked,
cached and loaded (as the platform deploys a model plan, docs/model-plan.md).

The subsets are written by the built-in splitter's own code (``aios_splits.layer_range``), layers [0, 15) and
[15, 30), and served by a ``http.server`` thread that counts requests.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import sys
import threading
import time
import types
from typing import Any, Dict, Iterator, List

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
REPO = os.path.abspath(os.path.join(EXAMPLE, "..", ".."))
for _p in (os.path.join(REPO, "python", "aios_instance", "tests"), os.path.join(REPO, "python", "aios_splits")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import llama_numpy  # noqa: E402
import split_block  # noqa: E402
from aios_instance import AIOSPacket  # noqa: E402
from aios_instance.proto import aios_instance_pb2 as pb  # noqa: E402
from helpers import Served  # noqa: E402  (the instance SDK's test helpers)

RANGES = [(0, 15), (15, 30)]
PROMPT = "Write a haiku about the sea."


class _Handler(http.server.SimpleHTTPRequestHandler):
    counts: Dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.counts[self.path] = self.counts.get(self.path, 0) + 1
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture(scope="module")
def splitart_files(gguf_path: str, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """Two subset GGUFs (layers [0, 15) and [15, 30)) with their sha256 and size."""
    try:
        from aios_splits.layer_range import GGUFModel
    except ImportError as e:  # pragma: no cover - the SDK is in this repository
        pytest.skip(f"aios_splits is not importable: {e}")
    from pathlib import Path

    root = tmp_path_factory.mktemp("splitart-served")
    model = GGUFModel.read(Path(gguf_path))
    files = []
    for i, (s, e) in enumerate(RANGES):
        path = root / f"split-{i}.gguf"
        model.write_subset(path, model.tensors_for(s, e))
        data = path.read_bytes()
        files.append({"name": path.name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    return {"root": str(root), "files": files, "model": model}


@pytest.fixture(scope="module")
def splitart_server(splitart_files: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """``{"base": "http://127.0.0.1:PORT", "counts": {path: GETs}}`` serving the subsets' directory."""

    class Handler(_Handler):
        counts: Dict[str, int] = {}

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=splitart_files["root"], **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="splitart-http", daemon=True)
    thread.start()
    try:
        yield {"base": f"http://127.0.0.1:{server.server_address[1]}", "counts": Handler.counts}
    finally:
        server.shutdown()
        server.server_close()


def _artifact(server: Dict[str, Any], files: Dict[str, Any], i: int, **change: Any) -> Dict[str, Any]:
    f = files["files"][i]
    art = {"url": f"{server['base']}/{f['name']}", "sha256": f["sha256"], "size": f["size"],
           "uri": f"/api/artifacts/{f['sha256']}"}
    art.update(change)
    return art


def _block_doc(layers: List[int], init: Dict[str, Any]) -> Dict[str, Any]:
    return {"blockId": f"splitart-{layers[0]}", "instanceId": "i0", "componentURI": "model.smollm2-split:0.1.0-stable",
            "blockInitData": {"layers": layers, **init}, "initSettings": {}, "parameters": {}, "policies": {},
            "allocation": {"clusterId": "local", "nodeId": "node-1", "gpus": []}, "simulated": False}


def _run_chain(served: List[Served], data: Dict[str, Any], session: str, seq: int) -> Dict[str, Any]:
    """The request through every split, as VDAGRunner.join passes one node's output to the next."""
    request = AIOSPacket(session_id=session, seq_no=seq, ts=time.time(), data=json.dumps(data))
    pkt = request
    out = None
    for s in served:
        reply = s.client.stub.Infer(pb.InferRequest(packet=pkt), timeout=30)
        out = reply.outputs[0]
        pkt = AIOSPacket()
        pkt.CopyFrom(request)
        pkt.data = out.data
        del pkt.files[:]
        pkt.files.extend(out.files)
        pkt.output_ptr = out.output_ptr
    assert out is not None
    return json.loads(out.data)


def test_two_way_split_through_artifacts_equals_the_full_file(splitart_files: Dict[str, Any],
                                                              splitart_server: Dict[str, Any], model: Any,
                                                              tokenizer: Any, tmp_path: Any, report: List[str]) -> None:
    cache = str(tmp_path / "cache")
    served: List[Served] = []
    try:
        for i, (s, e) in enumerate(RANGES):
            init = {"artifact": _artifact(splitart_server, splitart_files, i), "artifact_cache_dir": cache}
            served.append(Served(split_block.SplitBlock, _block_doc([s, e], init)))
        for i, s in enumerate(served):
            f = splitart_files["files"][i]
            assert s.instance.model_path == os.path.join(cache, f"{f['sha256']}.gguf")
            details = json.loads(s.client.health().details_json)
            assert details["layers"] == list(RANGES[i])
            assert details["artifact"]["sha256"] == f["sha256"] and details["artifact"]["cached"] is False
        assert sorted(os.listdir(cache)) == sorted(f"{f['sha256']}.gguf" for f in splitart_files["files"])

        prompt = llama_numpy.chat_prompt_tokens(tokenizer, PROMPT)
        reference = model.generate(prompt, 12, [])  # the full file, greedy, 12 forward passes
        outs = [_run_chain(served, {"prompt": PROMPT}, "art", 1)]
        for k in range(11):
            prev = outs[-1]
            outs.append(_run_chain(served, {"token": prev["token"], "position": prev["position"]}, "art", k + 2))
        assert [o["token"] for o in outs] == reference
        weights = [json.loads(s.client.health().details_json)["memory"]["weights_bytes"] for s in served]
        report.append(f"2-way split from artifacts: {[f['size'] for f in splitart_files['files']]} bytes, "
                      f"weights {[round(w / 2 ** 20) for w in weights]} MiB, greedy tokens equal the full file")
    finally:
        for s in served:
            s.close()
            s.instance.close()


def test_sha_mismatch_is_a_clear_error(splitart_files: Dict[str, Any], splitart_server: Dict[str, Any],
                                       tmp_path: Any) -> None:
    cache = str(tmp_path / "cache")
    real = splitart_files["files"][1]["sha256"]
    wrong = "0" * 64
    with pytest.raises(split_block.ArtifactError) as info:
        split_block.fetch_artifact(_artifact(splitart_server, splitart_files, 1, sha256=wrong), cache)
    assert str(info.value) == (f"artifact {splitart_server['base']}/split-1.gguf: sha256 mismatch: expected {wrong}, "
                               f"got {real}")
    assert os.listdir(cache) == []  # neither the bad file nor a partial download is kept

    size = splitart_files["files"][1]["size"]
    with pytest.raises(split_block.ArtifactError, match=f"size mismatch: expected {size + 1} bytes, got {size}$"):
        split_block.fetch_artifact(_artifact(splitart_server, splitart_files, 1, size=size + 1), cache)
    with pytest.raises(split_block.ArtifactError, match=f"size mismatch: expected {size - 1} bytes, got more"):
        split_block.fetch_artifact(_artifact(splitart_server, splitart_files, 1, size=size - 1), cache)
    assert os.listdir(cache) == []

    # The block itself fails to start with that error (before loading anything).
    ctx = types.SimpleNamespace(block_init_data={
        "layers": [15, 30], "artifact": _artifact(splitart_server, splitart_files, 1, sha256=wrong),
        "artifact_cache_dir": cache})
    with pytest.raises(split_block.ArtifactError, match=f"sha256 mismatch: expected {wrong}, got {real}"):
        split_block.SplitBlock(ctx)


def test_cached_file_is_reused_and_a_corrupt_one_replaced(splitart_files: Dict[str, Any],
                                                          splitart_server: Dict[str, Any], tmp_path: Any) -> None:
    cache = str(tmp_path / "cache")
    art = _artifact(splitart_server, splitart_files, 1)
    counts = splitart_server["counts"]
    before = counts.get("/split-1.gguf", 0)
    path, info = split_block.fetch_artifact(art, cache)
    assert info["cached"] is False and info["attempts"] == 1
    assert counts["/split-1.gguf"] == before + 1
    path2, info2 = split_block.fetch_artifact(dict(art, sha256=art["sha256"].upper()), cache)  # hex case ignored
    assert (path2, info2["cached"]) == (path, True)
    assert counts["/split-1.gguf"] == before + 1  # no request: the cached file was re-verified and reused
    with open(path, "r+b") as f:  # corrupt the cached copy: it is detected and downloaded again
        f.seek(1000)
        f.write(b"\xff" * 8)
    path3, info3 = split_block.fetch_artifact(art, cache)
    assert (path3, info3["cached"]) == (path, False)
    assert counts["/split-1.gguf"] == before + 2
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == art["sha256"]


def test_download_errors_and_malformed_entries(splitart_files: Dict[str, Any], splitart_server: Dict[str, Any],
                                               tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = str(tmp_path / "cache")
    with pytest.raises(split_block.ArtifactError, match="HTTP 404"):
        split_block.fetch_artifact(_artifact(splitart_server, splitart_files, 0, url=splitart_server["base"] + "/nope"),
                                   cache)
    sleeps: List[float] = []
    monkeypatch.setattr(split_block.time, "sleep", sleeps.append)
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/split-0.gguf"
    with pytest.raises(split_block.ArtifactError, match="download failed after 3 attempts: URLError"):
        split_block.fetch_artifact(_artifact(splitart_server, splitart_files, 0, url=dead), cache)
    assert sleeps == [0.5, 1.0]
    for change, msg in (({"url": None}, r"artifact.url must be the absolute URL of the artifact \(uri '/api/artifacts/"),
                        ({"sha256": "xyz"}, "sha256 must be 64 hex digits"), ({"size": 0}, "size must be an integer >= 1")):
        with pytest.raises(split_block.ArtifactError, match=msg):
            split_block.fetch_artifact(_artifact(splitart_server, splitart_files, 0, **change), cache)
    with pytest.raises(split_block.ArtifactError, match="must be an object"):
        split_block.fetch_artifact("http://x", cache)
    assert split_block.artifact_cache_dir({"artifact_cache_dir": "/c"}) == "/c"
    monkeypatch.setenv("AIOS_ARTIFACT_CACHE", "/env-cache")
    assert split_block.artifact_cache_dir({}) == "/env-cache"
    monkeypatch.delenv("AIOS_ARTIFACT_CACHE")
    assert split_block.artifact_cache_dir({}).endswith("aios-artifacts")


def test_subset_loading_and_tokenizer(splitart_files: Dict[str, Any], model: Any, tokenizer: Any) -> None:
    root = splitart_files["root"]
    first, last = os.path.join(root, "split-0.gguf"), os.path.join(root, "split-1.gguf")
    with pytest.raises(ValueError, match=r"no tensors for layer\(s\) \[10, 15\) of \[10, 20\); this file holds "
                                         r"layers \[15, 30\)"):
        llama_numpy.load_model_range(last, 10, 20)
    no_embd = os.path.join(root, "no-embd.gguf")  # layers [0, 15) without token_embd
    src = splitart_files["model"]
    src.write_subset(no_embd, [t for t in src.tensors_for(0, 15) if t.name != "token_embd.weight"])
    with pytest.raises(ValueError, match="tensor 'token_embd.weight' missing"):
        llama_numpy.load_model_range(no_embd, 0, 15)
    middle = llama_numpy.load_model_range(no_embd, 5, 15)  # a range that needs no embeddings loads without them
    assert middle.token_embd is None and middle.config.vocab_size == model.config.vocab_size
    sub_tok = llama_numpy.load_tokenizer(first)
    text = "Write a haiku about the sea."
    assert llama_numpy.chat_prompt_tokens(sub_tok, text) == llama_numpy.chat_prompt_tokens(tokenizer, text)
    m = llama_numpy.load_model_range(last, 15, 30)
    assert m.config == model.config and m.has_head and m.token_embd is not None  # tied head

