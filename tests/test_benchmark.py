"""The timing helper behind benchmarks/: interleaved repetitions and their medians."""

import time

from zerosnet_zoo.benchmark import alternating, interleaved


def test_interleaved_alternates_the_order_and_returns_each_median():
    calls = []
    pauses = {'fast': 0.0, 'slow': 0.05}

    def step(name):
        calls.append(name)
        time.sleep(pauses[name])

    fast, slow = interleaved([lambda: step('fast'), lambda: step('slow')], reps=4, device='cpu')
    assert calls == ['fast', 'slow', 'slow', 'fast'] * 2
    # A sleep never ends early, so the slow median is at least its pause and above the fast one.
    assert slow >= pauses['slow'] > fast


def test_warm_up_calls_come_first_in_alternating_rounds_and_are_not_timed():
    calls = []
    medians = interleaved([lambda: calls.append(0), lambda: calls.append(1), lambda: calls.append(2)],
                          reps=1, device='cpu', warmup=2)
    assert list(alternating(3, 2)) == [0, 1, 2, 2, 1, 0]
    assert calls == [0, 1, 2, 2, 1, 0] + [0, 1, 2] and len(medians) == 3
