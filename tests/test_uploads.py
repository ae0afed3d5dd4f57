"""jobs/uploads.py: the files the page sent, kept apart from its callbacks — per owner, a few each, a
bounded number in all, the oldest going first; the same rules on disk (embedded) and in Redis."""
from __future__ import annotations

import os
import time

import pytest

from redis_harness import RedisServer, require_redis
from styletransfer.jobs.uploads import PER_OWNER, DiskUploads, RedisUploads, valid_token


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    require_redis()
    server = RedisServer(tmp_path_factory.mktemp("uploads"))
    yield server
    server.stop()


@pytest.fixture(params=["disk", "redis"])
def store_of(request):
    """A factory: store_of(max_stored) on the backend the parameter names (Redis: a real server)."""
    made = []

    def make(max_stored: int, ttl_s: float = 3600):
        if request.param == "disk":
            store = DiskUploads(max_stored, ttl_s)
            made.append(store.close)
        else:
            import redis

            r = redis.Redis.from_url(request.getfixturevalue("redis_server").url)
            r.flushdb()
            store = RedisUploads(r, max_stored, ttl_s)
            made.append(r.close)
        return store

    yield make
    for close in made:
        close()


def test_an_upload_comes_back_to_its_owner_only(store_of):
    store = store_of(10)
    token = store.put("alice", b"\x89PNG...", "cat.png")
    assert valid_token(token)
    found = store.get("alice", token)
    assert (found.data, found.name) == (b"\x89PNG...", "cat.png")
    assert store.get("bob", token) is None
    assert store.get("alice", "A" * 24) is None and store.get("alice", "../etc/passwd") is None


def test_each_owner_keeps_its_latest_few_and_the_store_its_latest_in_all(store_of):
    store = store_of(max_stored=PER_OWNER + 2)
    alice = [store.put("alice", bytes([i]), f"{i}.png") for i in range(PER_OWNER + 3)]
    assert [store.get("alice", t) is not None for t in alice] == [False] * 3 + [True] * PER_OWNER
    bob = [store.put("bob", b"b", "b.png") for _ in range(3)]
    assert all(store.get("bob", t) for t in bob)  # the newest stay…
    kept = [t for t in alice if store.get("alice", t) is not None]
    assert kept == alice[-(PER_OWNER - 1):]  # …and the oldest of anyone's go, within the store's bound


def test_an_expired_upload_is_gone(store_of):
    store = store_of(10, ttl_s=1)
    token = store.put("alice", b"x", "x.png")
    assert store.get("alice", token) is not None
    time.sleep(2.1)
    assert store.get("alice", token) is None


def test_the_disk_store_leaves_nothing_behind():
    store = DiskUploads(4)
    store.put("alice", b"x" * 1000, "x.png")
    folder = store._dir
    assert os.listdir(folder)
    store.close()
    assert not os.path.exists(folder)
