"""The plugin's caches: one small least-recently-used map, safe across TensorBoard's threads."""

from __future__ import annotations

import collections
import threading
from typing import Any, Hashable


class LRU:
    """At most `size` entries; reading one makes it the newest, adding one past the size drops
    the one used longest ago."""

    def __init__(self, size: int):
        self._size = size
        self._items: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
