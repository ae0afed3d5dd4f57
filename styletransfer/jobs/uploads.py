"""Uploads kept for their owner's callbacks to name by token: on disk, or in Redis beside Redis + Celery."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import redis

from ..images import write_atomic

__all__ = ["DiskUploads", "PER_OWNER", "RedisUploads", "TTL_S", "Upload", "Uploads", "valid_token"]

TTL_S = 6 * 3600
PER_OWNER = 8  # three slots, a few replaced files and examples
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class Upload:
    data: bytes
    name: str


class Uploads(Protocol):
    def put(self, owner: str, data: bytes, name: str) -> str:
        """Keep a file for ``owner``; its token."""

    def get(self, owner: str, token: str) -> Upload | None:
        """The file, or None: unknown, expired, evicted or another owner's."""


def valid_token(token) -> bool:
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None


def _new_token() -> str:
    return secrets.token_urlsafe(18)


class DiskUploads:
    """Files in a private temporary folder (removed by :meth:`close`), indexed in memory."""

    def __init__(self, max_stored: int, ttl_s: float = TTL_S):
        self.max_stored, self.ttl_s = max_stored, ttl_s
        self._dir: str | None = None  # made at the first upload
        self._index: OrderedDict[str, tuple[str, str, float]] = OrderedDict()  # token -> owner, name, kept at
        self._lock = threading.Lock()

    def put(self, owner: str, data: bytes, name: str) -> str:
        token = _new_token()
        with self._lock:
            self._dir = self._dir or tempfile.mkdtemp(prefix="studio-uploads-")
        write_atomic(self._path(token), data)
        with self._lock:
            self._index[token] = (owner, name, time.time())
            gone = self._evictable(owner)
            for t in gone:
                del self._index[t]
        for t in gone:
            try:
                os.remove(self._path(t))
            except FileNotFoundError:
                pass
        return token

    def get(self, owner: str, token: str) -> Upload | None:
        if not valid_token(token):
            return None
        with self._lock:
            entry = self._index.get(token)
        if entry is None or entry[0] != owner or time.time() - entry[2] > self.ttl_s:
            return None
        try:
            with open(self._path(token), "rb") as f:
                return Upload(f.read(), entry[1])
        except FileNotFoundError:  # evicted meanwhile
            return None

    def close(self) -> None:
        with self._lock:
            folder, self._dir = self._dir, None
            self._index.clear()
        if folder:
            shutil.rmtree(folder, ignore_errors=True)

    def _path(self, token: str) -> str:
        return os.path.join(self._dir or "", token)

    def _evictable(self, owner: str) -> list[str]:
        """Oldest first: the expired, the owner's beyond :data:`PER_OWNER`, everyone's beyond ``max_stored``."""
        now = time.time()
        gone = [t for t, (_, _, at) in self._index.items() if now - at > self.ttl_s]
        mine = [t for t, (o, _, _) in self._index.items() if o == owner and t not in gone]
        gone += mine[:max(0, len(mine) - PER_OWNER)]
        rest = [t for t in self._index if t not in gone]
        return gone + rest[:max(0, len(rest) - self.max_stored)]


class RedisUploads:
    """An expiring hash per upload, and sorted sets of tokens by time (everyone's, each owner's)."""

    INDEX = "st:uploads"

    def __init__(self, r: redis.Redis, max_stored: int, ttl_s: float = TTL_S):
        self.r, self.max_stored, self.ttl_s = r, max_stored, int(ttl_s)

    @staticmethod
    def _key(token: str) -> str:
        return f"st:upload:{token}"

    @staticmethod
    def _owner_key(owner: str) -> str:
        return f"st:uploads:of:{owner}"

    def put(self, owner: str, data: bytes, name: str) -> str:
        token, now = _new_token(), time.time()
        pipe = self.r.pipeline()
        pipe.hset(self._key(token), mapping={"owner": owner, "name": name, "data": data})
        pipe.expire(self._key(token), self.ttl_s)
        pipe.zadd(self.INDEX, {token: now})
        pipe.zadd(self._owner_key(owner), {token: now})
        pipe.expire(self._owner_key(owner), self.ttl_s)
        pipe.zremrangebyscore(self.INDEX, "-inf", now - self.ttl_s)  # expired by Redis already
        pipe.zrange(self._owner_key(owner), 0, -(PER_OWNER + 1))
        self._forget(owner, [t.decode() for t in pipe.execute()[-1]])
        total = self.r.zcard(self.INDEX)
        if total > self.max_stored:
            self._forget(owner, [t.decode() for t in self.r.zrange(self.INDEX, 0, total - self.max_stored - 1)])
        return token

    def _forget(self, owner: str, tokens: list[str]) -> None:
        if tokens:
            pipe = self.r.pipeline()
            pipe.delete(*(self._key(t) for t in tokens))
            pipe.zrem(self.INDEX, *tokens)
            pipe.zrem(self._owner_key(owner), *tokens)  # another owner's evicted token expires from its set
            pipe.execute()

    def get(self, owner: str, token: str) -> Upload | None:
        if not valid_token(token):
            return None
        stored_owner, name, data = self.r.hmget(self._key(token), "owner", "name", "data")
        if stored_owner is None or data is None or stored_owner.decode() != owner:
            return None
        return Upload(data, name.decode() if name else "image")
