"""Memory stays flat under sustained load: nothing is kept per request."""

from __future__ import annotations

import asyncio
import gc
import os

import pytest

import mtproto
from mtproto.testing import echo

from conftest import run


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
@pytest.mark.timeout(180)
def test_rss_is_stable_over_100000_invokes(session: mtproto.Session) -> None:
    request = echo(b"m" * 64)

    async def batch(n: int, window: int = 1000) -> None:
        for _ in range(n // window):
            results = await asyncio.gather(*(session.invoke(request) for _ in range(window)))
            assert len(results) == window

    def blocking(n: int) -> None:
        for _ in range(n):
            session.invoke_sync(request, timeout=10)

    # Warm-up: allocator pools, interned objects, the session's tables.
    run(batch(20_000), timeout=120)
    blocking(2_000)
    gc.collect()
    before = rss_bytes()
    run(batch(100_000), timeout=150)
    blocking(5_000)
    gc.collect()
    growth = rss_bytes() - before
    # A leak of one future, one result or one closure per request would be
    # well over 10 MiB here (100,000 x >100 bytes); allocator noise is far less.
    assert growth < 8 * 1024 * 1024, f"RSS grew by {growth / 1024:.0f} KiB"
