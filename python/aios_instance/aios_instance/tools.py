"""Muxing and batching helpers (AIOS ``SDK/tools.py``, with its bugs fixed)."""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from typing import Any, Callable, List, Optional, Tuple

__all__ = ["Muxer", "MuxerInputError", "Batcher", "TimeBasedBatcher"]

log = logging.getLogger("aios_instance")


class MuxerInputError(ValueError):
    """A packet the muxer cannot merge (its ``data`` is not JSON). Served as INVALID_ARGUMENT."""


class _Group:
    __slots__ = ("created", "packets", "values")

    def __init__(self, created: float) -> None:
        self.created = created
        self.packets: List[Any] = []
        self.values: List[Any] = []


class Muxer:
    """Fan-in: waits for ``n`` packets with the same ``(session_id, seq_no)`` and merges them into one.

    The merged packet has the first packet's ``session_id``, ``seq_no``, ``ts`` and ``output_ptr``,
    ``data = json.dumps({"inputs": [json.loads(p.data), ...]})`` in arrival order, and the files of every
    packet concatenated. ``n == 1`` passes packets through unchanged. Unlike AIOS, incomplete groups do not
    leak: a group older than ``timeout_s`` (None: never) is dropped, and so is the oldest group once more
    than ``max_pending`` are waiting. ``evicted`` counts the groups dropped. Thread-safe.
    """

    def __init__(self, n: int, timeout_s: Optional[float] = 30.0, max_pending: int = 1000) -> None:
        if int(n) < 1:
            raise ValueError(f"Muxer needs n >= 1, got {n}")
        if max_pending < 1:
            raise ValueError(f"Muxer needs max_pending >= 1, got {max_pending}")
        self.n = int(n)
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self.evicted = 0
        self._pending: "collections.OrderedDict[Tuple[str, int], _Group]" = collections.OrderedDict()
        self._lock = threading.Lock()

    def process_packet(self, packet: Any) -> Optional[Any]:
        """Adds ``packet``; returns the merged packet once its group is complete, else None."""
        if self.n == 1:
            return packet
        try:
            value = json.loads(packet.data) if packet.data else None
        except ValueError as e:
            raise MuxerInputError(
                f"packet data is not JSON (session_id={packet.session_id!r}, seq_no={packet.seq_no}): {e}"
            ) from None
        copy = type(packet)()
        copy.CopyFrom(packet)
        key = (packet.session_id, int(packet.seq_no))
        with self._lock:
            now = time.monotonic()
            self._evict_expired(now)
            group = self._pending.get(key)
            if group is None:
                group = _Group(now)
                self._pending[key] = group
            group.packets.append(copy)
            group.values.append(value)
            if len(group.packets) >= self.n:
                del self._pending[key]
                return self._merge(group)
            while len(self._pending) > self.max_pending:
                old, dropped = self._pending.popitem(last=False)
                self.evicted += 1
                log.warning("muxer: dropped incomplete group %r (%d/%d packets): more than %d groups pending",
                            old, len(dropped.packets), self.n, self.max_pending)
            return None

    def pending(self) -> int:
        """How many incomplete groups are waiting."""
        with self._lock:
            self._evict_expired(time.monotonic())
            return len(self._pending)

    def _evict_expired(self, now: float) -> None:
        if self.timeout_s is None:
            return
        while self._pending:
            key, group = next(iter(self._pending.items()))
            if now - group.created < self.timeout_s:
                break
            del self._pending[key]
            self.evicted += 1
            log.warning("muxer: dropped incomplete group %r (%d/%d packets) after %.1f s",
                        key, len(group.packets), self.n, self.timeout_s)

    @staticmethod
    def _merge(group: _Group) -> Any:
        first = group.packets[0]
        merged = type(first)()
        merged.session_id = first.session_id
        merged.seq_no = first.seq_no
        merged.ts = first.ts
        merged.output_ptr = first.output_ptr
        merged.data = json.dumps({"inputs": group.values})
        for p in group.packets:
            merged.files.extend(p.files)
        return merged


class Batcher:
    """A thread-safe list buffer: ``add_to_batch(item)`` returns the batch (a list) once it holds ``n``
    items, else None. With ``timeout_s``, a batch whose first item is older than that is also returned by
    the next ``add_to_batch``. ``flush()`` returns (and clears) whatever is pending."""

    def __init__(self, n: int, timeout_s: Optional[float] = None) -> None:
        if int(n) < 1:
            raise ValueError(f"Batcher needs n >= 1, got {n}")
        self.n = int(n)
        self.timeout_s = timeout_s
        self._items: List[Any] = []
        self._first_at = 0.0
        self._lock = threading.Lock()

    def add_to_batch(self, item: Any) -> Optional[List[Any]]:
        with self._lock:
            now = time.monotonic()
            if not self._items:
                self._first_at = now
            self._items.append(item)
            if len(self._items) >= self.n or (
                self.timeout_s is not None and now - self._first_at >= self.timeout_s
            ):
                return self._take()
            return None

    def flush(self) -> List[Any]:
        with self._lock:
            return self._take()

    def expired(self) -> bool:
        """True if items are pending and the oldest is older than ``timeout_s``."""
        with self._lock:
            return bool(self._items) and self.timeout_s is not None and (
                time.monotonic() - self._first_at >= self.timeout_s
            )

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _take(self) -> List[Any]:
        items, self._items = self._items, []
        return items


class TimeBasedBatcher:
    """Batches items and calls ``flush_callback(batch)`` when ``batch_size`` items are pending or
    ``time_limit`` seconds after the first item of a batch, whichever is first. (AIOS's version deadlocked
    when the batch filled; here the callback always runs outside the lock.)"""

    def __init__(self, batch_size: int, time_limit: float, flush_callback: Callable[[List[Any]], Any]) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"TimeBasedBatcher needs batch_size >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.time_limit = float(time_limit)
        self.flush_callback = flush_callback
        self._items: List[Any] = []
        self._timer: Optional[threading.Timer] = None
        self._lock = threading.Lock()

    def add_to_batch(self, item: Any) -> None:
        batch: Optional[List[Any]] = None
        with self._lock:
            self._items.append(item)
            if len(self._items) >= self.batch_size:
                batch = self._take()
            elif self._timer is None:
                self._timer = threading.Timer(self.time_limit, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if batch:
            self.flush_callback(batch)

    def flush(self) -> None:
        with self._lock:
            batch = self._take()
        if batch:
            self.flush_callback(batch)

    def _take(self) -> List[Any]:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._items = self._items, []
        return items
