"""A job's time left follows its recent rate, smoothed: startup does not count, noise does not swing it, a new phase
starts over, and the page's figure counts down between reports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from webapp.jobs.runner import SmoothedRate


def test_startup_does_not_count_and_steady_progress_gives_the_true_time_left():
    rate = SmoothedRate()
    assert rate.remaining(100.0, 0, 1000) is None  # first report after a long model load: nothing measured yet
    estimates = [rate.remaining(100.0 + t, 10 * t, 1000) for t in range(1, 20)]
    assert estimates[-1] == pytest.approx((1000 - 190) / 10)
    assert all(e == pytest.approx((1000 - 10 * t) / 10) for t, e in zip(range(1, 20), estimates))


def test_uneven_progress_moves_the_estimate_gently():
    rate = SmoothedRate()
    rate.remaining(0.0, 0, 3000)
    done, estimates, rates = 0, [], []
    for second in range(1, 241):  # 10 items/s on average, reported as bursts of 20 and 0
        done += 20 if second % 2 else 0
        estimates.append(rate.remaining(float(second), done, 3000))
        rates.append(rate.rate)
    assert all(abs(r - 10) < 1.0 for r in rates[10:])  # the rate it reads stays within 10 % of the true one
    steps = [abs(b - a) / a for a, b in zip(estimates[10:200], estimates[11:200])]
    assert max(steps) < 0.1  # a second later at most 10 % apart: never 1531 s -> 1903 s -> 99 s as in the issue


def test_a_new_total_or_a_step_back_starts_over():
    rate = SmoothedRate()
    rate.remaining(0.0, 0, 100)
    assert rate.remaining(1.0, 10, 100) == pytest.approx(9.0)
    assert rate.remaining(2.0, 0, 50) is None  # the next phase: its own rate
    assert rate.remaining(3.0, 5, 50) == pytest.approx(9.0)
    assert rate.remaining(4.0, 2, 50) is None


def test_the_page_counts_down_from_the_expected_end():
    from django.utils import timezone

    from webapp.jobs.models import Job

    job = Job(state=Job.State.RUNNING, expected_end=timezone.now() + timedelta(seconds=90))
    assert 88 <= job.eta_seconds <= 90
    job.expected_end = timezone.now() - timedelta(seconds=5)
    assert job.eta_seconds == 0.0
    assert Job(state=Job.State.RUNNING).eta_seconds is None
    assert Job(state=Job.State.SUCCEEDED, expected_end=timezone.now()).eta_seconds is None
