"""Benchmarks: `python -m bench.<name>`. They print figures and never assert timings."""

import statistics


def summary(seconds: list[float]) -> str:
    """Median, p99 (or max for short runs) and min, in milliseconds."""
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"median {1000 * statistics.median(ordered):7.2f} ms  "
        f"p99 {1000 * p99:7.2f} ms  min {1000 * ordered[0]:7.2f} ms  (n={len(ordered)})"
    )


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
