"""A byte-bounded LRU of node outputs, keyed by node signature."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Any


def size_of(value: Any, _depth: int = 0) -> int:
    """Approximate bytes held by a node output: arrays and tensors by their data, containers summed."""
    if _depth > 8:
        return 64
    custom = getattr(value, "__cache_size__", None)
    if callable(custom):
        return int(custom())
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if isinstance(value, dict):
        return 64 + sum(size_of(v, _depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return 64 + sum(size_of(v, _depth + 1) for v in value)
    if isinstance(value, str | bytes):
        return sys.getsizeof(value)
    return 64


class OutputCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> Any | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def peek(self, key: str) -> Any | None:
        with self._lock:
            hit = self._items.get(key)
            return None if hit is None else hit[0]

    def put(self, key: str, value: Any) -> bool:
        """Store unless the value alone exceeds the bound; evicts least recently used entries."""
        size = size_of(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return False
            while self._items and self._bytes + size > self.max_bytes:
                _, (_, s) = self._items.popitem(last=False)
                self._bytes -= s
            self._items[key] = (value, size)
            self._bytes += size
            return True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
