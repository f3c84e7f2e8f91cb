"""The per-process memory budget (tribunal_sdk.memory): admission by decoded bytes, queueing, 503s."""

from __future__ import annotations

import asyncio
import time

import pytest

from tribunal_sdk.memory import MB, MemoryBudget, OverMemoryBudget, release_memory, tune_allocator

# ---- the gate itself ------------------------------------------------------------------------------


async def test_requests_that_fit_go_through_together():
    budget = MemoryBudget(100, max_wait_s=1.0)
    async with budget.hold(40), budget.hold(60):
        assert budget.in_use == 100 and budget.holders == 2
    assert budget.in_use == 0 and budget.peak == 100


async def test_a_request_that_does_not_fit_waits_for_room_then_runs():
    budget = MemoryBudget(100, max_wait_s=2.0)
    order: list[str] = []

    async def big(name: str, hold_s: float) -> None:
        async with budget.hold(80):
            order.append(f"{name} in")
            await asyncio.sleep(hold_s)
            order.append(f"{name} out")

    await asyncio.gather(big("first", 0.1), big("second", 0.0))
    assert order == ["first in", "first out", "second in", "second out"]
    assert budget.peak == 80 and budget.refused == 0


async def test_waiting_is_first_come_first_served_so_large_requests_are_not_starved():
    budget = MemoryBudget(100, max_wait_s=2.0)
    order: list[str] = []

    async def take(name: str, weight: int, hold_s: float = 0.0) -> None:
        async with budget.hold(weight):
            order.append(name)
            await asyncio.sleep(hold_s)

    first = asyncio.create_task(take("first", 60, 0.1))
    await asyncio.sleep(0)
    large = asyncio.create_task(take("large", 90))
    await asyncio.sleep(0)
    small = asyncio.create_task(take("small", 10))  # would fit now, but the large one queued first
    await asyncio.gather(first, large, small)
    assert order == ["first", "large", "small"]


async def test_after_the_wait_a_request_is_refused_with_503_and_retry_after():
    budget = MemoryBudget(100 * MB, max_wait_s=0.05, name="toy service")
    async with budget.hold(90 * MB):
        started = time.monotonic()
        with pytest.raises(OverMemoryBudget) as info:
            async with budget.hold(50 * MB):
                pass
        assert time.monotonic() - started < 1.0
    error = info.value
    assert error.status_code == 503 and error.code == "over_memory_budget"
    assert int(error.headers["Retry-After"]) >= 1
    assert "toy service" in error.detail and "TRIBUNAL_MEMORY_BUDGET_MB" in error.detail
    assert budget.in_use == 0 and budget.refused == 1
    async with budget.hold(100 * MB):  # the refused request left nothing behind
        assert budget.in_use == 100 * MB


async def test_a_request_heavier_than_the_whole_budget_runs_alone_rather_than_never():
    budget = MemoryBudget(100, max_wait_s=1.0)
    async with budget.hold(500):
        assert budget.in_use == 500
    assert budget.in_use == 0


async def test_a_cancelled_waiter_gives_its_place_to_the_next():
    budget = MemoryBudget(100, max_wait_s=5.0)
    async with budget.hold(100):
        waiter = asyncio.create_task(budget.hold(100).__aenter__())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert budget.in_use == 0 and budget.waiting == 0
    async with budget.hold(100):
        assert budget.holders == 1


def test_allocator_tuning_and_trim_are_safe_to_call_repeatedly():
    assert tune_allocator() == tune_allocator()
    release_memory()
