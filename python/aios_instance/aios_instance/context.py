"""The context object handed to the user's block class, and its helpers (sessions, events)."""

from __future__ import annotations

import collections
import json
import logging
import threading
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional

__all__ = ["Context", "SessionsManager", "BlockEvents"]

log = logging.getLogger("aios_instance")

DEFAULT_MAX_SESSIONS = 10000


class SessionsManager:
    """Per-session storage (one value, normally a dict, per session id), bounded by LRU eviction.

    Thread-safe. AIOS kept an unbounded dict; here the least recently used session is dropped once more
    than ``max_sessions`` are stored (``blockInitData.max_sessions``, default 10000).
    """

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        self.max_sessions = max_sessions
        self.evicted = 0
        self._data: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
        self._lock = threading.RLock()

    def get(self, session_id: str, default: Any = None) -> Any:
        """The session's value, or ``default``; marks the session as recently used."""
        with self._lock:
            if session_id in self._data:
                self._data.move_to_end(session_id)
                return self._data[session_id]
            return default

    def set(self, session_id: str, value: Any) -> None:
        with self._lock:
            self._data[session_id] = value
            self._data.move_to_end(session_id)
            while len(self._data) > self.max_sessions:
                old, _ = self._data.popitem(last=False)
                self.evicted += 1
                log.debug("sessions: evicted least recently used session %r", old)

    def get_or_create(self, session_id: str, factory: Callable[[], Any] = dict) -> Any:
        """The session's value, creating it with ``factory()`` (an empty dict by default) if absent."""
        with self._lock:
            if session_id in self._data:
                self._data.move_to_end(session_id)
                return self._data[session_id]
            value = factory()
            self.set(session_id, value)
            return value

    def delete(self, session_id: str) -> bool:
        """Removes the session; True if it existed."""
        with self._lock:
            return self._data.pop(session_id, _MISSING) is not _MISSING

    def clear(self) -> int:
        """Removes every session; returns how many there were."""
        with self._lock:
            n = len(self._data)
            self._data.clear()
            return n

    def keys(self) -> List[str]:
        with self._lock:
            return list(self._data.keys())

    def __contains__(self, session_id: object) -> bool:
        with self._lock:
            return session_id in self._data

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    # Spellings AIOS-era block code uses.
    add_session = set
    get_session = get
    remove_session = delete


_MISSING = object()


class BlockEvents:
    """``context.events``: ``push_event(name, data)`` logs the event (AIOS pushed it to a Redis queue)
    and keeps the last ``keep`` events in memory (``recent()``)."""

    def __init__(self, block_id: str = "", instance_id: str = "", keep: int = 100) -> None:
        self.block_id = block_id
        self.instance_id = instance_id
        self._recent: Deque[Dict[str, Any]] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def push_event(self, event_name: str, event_data: Any = None) -> bool:
        event = {
            "event_name": event_name,
            "block_id": self.block_id,
            "instance_id": self.instance_id,
            "event_data": event_data,
        }
        with self._lock:
            self._recent.append(event)
        log.info("event %s %s", event_name, json.dumps(event_data, default=str))
        return True

    def recent(self) -> List[Dict[str, Any]]:
        with self._lock:
            return list(self._recent)


def _dict_field(data: Dict[str, Any], key: str) -> Dict[str, Any]:
    """``data[key]`` as a dict stored in ``data`` (so that updates through it are visible in ``data``)."""
    value = data.get(key)
    if not isinstance(value, dict):
        value = {}
        data[key] = value
    return value


class Context:
    """What the user's class receives: ``MyBlock(context)``.

    ``block_data`` is the whole block document; ``block_init_data``, ``block_init_settings`` and
    ``block_init_parameters`` are the dicts inside it (the very same objects: parameter updates mutate
    ``block_init_parameters`` in place). ``allocation_info`` is ``{"gpus", "node_id", "cluster_id"}``.
    """

    def __init__(
        self,
        block_data: Optional[Dict[str, Any]] = None,
        block_id: Optional[str] = None,
        instance_id: Optional[str] = None,
        sessions: Optional[SessionsManager] = None,
        events: Optional[BlockEvents] = None,
        metrics: Any = None,
    ) -> None:
        data: Dict[str, Any] = block_data if block_data is not None else {}
        self.block_data = data
        self.block_id: str = block_id if block_id is not None else str(data.get("blockId") or "")
        self.instance_id: str = instance_id if instance_id is not None else str(data.get("instanceId") or "")
        self.component_uri: str = str(data.get("componentURI") or "")
        self.simulated: bool = bool(data.get("simulated", False))
        self.block_init_data: Dict[str, Any] = _dict_field(data, "blockInitData")
        self.block_init_settings: Dict[str, Any] = _dict_field(data, "initSettings")
        self.block_init_parameters: Dict[str, Any] = _dict_field(data, "parameters")
        policies = data.get("policies")
        self.policies: Dict[str, Any] = policies if isinstance(policies, dict) else {}
        allocation_field = data.get("allocation")
        allocation: Dict[str, Any] = allocation_field if isinstance(allocation_field, dict) else {}
        gpus = allocation.get("gpus") or []
        self.allocation_info: Dict[str, Any] = {
            "gpus": [str(g) for g in gpus] if isinstance(gpus, list) else [],
            "node_id": allocation.get("nodeId"),
            "cluster_id": allocation.get("clusterId"),
        }
        if sessions is None:
            sessions = SessionsManager(int(self.block_init_data.get("max_sessions", DEFAULT_MAX_SESSIONS)))
        self.sessions = sessions
        self.events = events if events is not None else BlockEvents(self.block_id, self.instance_id)
        self.metrics = metrics
        # AIOS fields kept for source compatibility.
        self.side_cars = self.block_init_data.get("side_cars")
        self.block_path = f"/{self.block_id}"
        self.instance_path = f"/{self.instance_id}"
        self.common_path = "/common"

    def write_ws(self, session_id: str, data: Any) -> None:
        """AIOS pushed to a WebSocket client here; aios-swift streams through ``InferStream`` instead."""
        raise NotImplementedError(
            "context.write_ws is not supported by aios_instance: return a generator from on_data "
            "(OnDataResult(output=generator)) and call InferStream to stream outputs"
        )

    def __repr__(self) -> str:
        return f"Context(block_id={self.block_id!r}, instance_id={self.instance_id!r})"
