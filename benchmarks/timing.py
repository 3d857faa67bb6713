"""The timing rule every benchmark here follows: one warm-up call, then the median of
``repeats`` timed calls, each ended by ``sync`` (torch.cuda.synchronize on a GPU)."""
import statistics
import time


def median_seconds(fn, repeats: int, sync=lambda: None) -> float:
    fn()  # warm-up: numba compilation, allocator, caches
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
