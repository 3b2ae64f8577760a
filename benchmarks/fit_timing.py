"""Median seconds per `fit` step of several models, timed alternately (shared by the benchmarks)."""

from __future__ import annotations

import statistics
import time


def seconds_per_step(jobs: dict, steps: int, repeats: int) -> dict[str, float]:
    """`{name: (model, data)}` -> `{name: median seconds per step}`.

    Every model is traced first (3 steps); then each runs `steps` steps in
    turn, `repeats` times, so load from other jobs on the machine hits all
    of them alike.
    """
    for model, data in jobs.values():
        model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)  # trace
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, (model, data) in jobs.items():
            start = time.perf_counter()
            model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / steps)
    return {name: round(statistics.median(values), 4) for name, values in times.items()}
