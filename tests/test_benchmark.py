"""The timing helper behind benchmarks/: interleaved repetitions and their medians."""

import time

from zerosnet_zoo.benchmark import interleaved


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
