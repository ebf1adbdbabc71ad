"""The one backoff policy (`workers.retry.Backoff`): exponential, capped, jittered below the cap."""

from __future__ import annotations

import pytest

from workers.retry import TRITON_REQUEST, WORKER_HOLD, Backoff


def test_delays_double_from_the_base_until_the_cap() -> None:
    backoff = Backoff(base_s=0.5, cap_s=4.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


@pytest.mark.parametrize("backoff", [WORKER_HOLD, TRITON_REQUEST, Backoff(jitter=1.0)])
def test_no_delay_exceeds_the_cap_whatever_the_jitter_draws(backoff: Backoff) -> None:
    for attempt in (0, 1, 5, 30, 10_000):
        for draw in (0.0, 0.25, 0.999999):
            assert 0 <= backoff.delay(attempt, rand=lambda d=draw: d) <= backoff.cap_s


def test_jitter_spreads_delays_below_the_capped_value() -> None:
    backoff = Backoff(base_s=1.0, cap_s=30.0, jitter=0.5)
    assert backoff.delay(2, rand=lambda: 0.0) == 4.0
    assert backoff.delay(2, rand=lambda: 0.5) == 3.0
    assert backoff.delay(50, rand=lambda: 0.999) == pytest.approx(15.015)
    drawn = {backoff.delay(3) for _ in range(50)}
    assert len(drawn) > 1 and all(4.0 <= d <= 8.0 for d in drawn)


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert Backoff(jitter=0.0).delay(10**9) == 30.0


@pytest.mark.parametrize(
    "kwargs", [{"base_s": 0.0}, {"base_s": 5.0, "cap_s": 1.0}, {"jitter": -0.1}, {"jitter": 1.5}]
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)
