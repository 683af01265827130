"""The process pool costs nothing until used, and runs work in other processes."""

import os

import pytest

from app.core.compute import count_primes
from app.core.pools import ProcessPool

pytestmark = pytest.mark.anyio


async def test_pool_starts_on_first_use_and_closes() -> None:
    pool = ProcessPool(max_workers=1)
    assert not pool.started
    count, pid = await pool.run(count_primes, 30)
    assert (count, pool.started) == (10, True)
    assert pid != os.getpid()
    await pool.close()
    assert not pool.started
