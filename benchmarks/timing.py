"""The timing rule every benchmark here follows: one warm-up call, then the median of
``repeats`` timed calls, each ended by ``sync`` (torch.cuda.synchronize on a GPU).

``median_seconds_rounds`` compares several implementations fairly on a small shared
machine: it times them in blocks (A x n, B x n, C x n) over several rounds, with two untimed
calls opening each block, and takes each one's median over all its rounds. Blocks, not
A, B, C, A, B, C: numpy's BLAS threads and torch's OpenMP threads keep spinning for a while
after each call, so strict alternation on 2 cores makes every library slow the next one
(measured: 13 ms -> 39 ms for the same log-mel call). Rounds, not one block each: a slow
spell of the machine then hits all of them alike.
"""
import statistics
import time


def _timed(fn, sync) -> float:
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def median_seconds(fn, repeats: int, sync=lambda: None) -> float:
    fn()  # warm-up: numba compilation, allocator, caches
    return statistics.median(_timed(fn, sync) for _ in range(repeats))


def median_seconds_rounds(fns, repeats: int, rounds: int = 3, sync=lambda: None) -> list[float]:
    """Median seconds of each of ``fns`` over ``rounds`` x ``repeats`` timed calls."""
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            for _ in range(2):  # untimed: warm-up, and lets the previous library's threads go quiet
                fn()
            sync()
            ts.extend(_timed(fn, sync) for _ in range(repeats))
    return [statistics.median(ts) for ts in times]
