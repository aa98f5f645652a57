"""Prometheus text exposition (format 0.0.4): histograms in base units, and the process's own figures.

``Histogram`` is pure (observe, then ``lines()``). ``process_lines`` reads ``/proc/self`` the way the
official client libraries do (``process_cpu_seconds_total``, ``process_resident_memory_bytes``, ...), so
a dashboard made for any exporter shows panikid's memory and CPU: on a Pi the resident memory is the
figure to watch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

PROC = Path("/proc")


def label(value: str) -> str:
    """A label value, escaped as the text format wants."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metric(name: str, kind: str, help_text: str, samples: Sequence[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


class Histogram:
    """Cumulative buckets of observed values (seconds), their sum and count."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        if list(buckets) != sorted(set(buckets)):
            raise ValueError(f"{name}: buckets must increase, got {list(buckets)}")
        self.name, self.help_text, self.buckets = name, help_text, tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.sum += value
        self.count += 1
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def lines(self) -> list[str]:
        samples = [f'{self.name}_bucket{{le="{b:g}"}} {n}' for b, n in zip(self.buckets, self.counts, strict=True)]
        samples += [f'{self.name}_bucket{{le="+Inf"}} {self.count}', f"{self.name}_sum {self.sum:.6g}",
                    f"{self.name}_count {self.count}"]
        return metric(self.name, "histogram", self.help_text, samples)


def process_lines(proc: Path = PROC, pid: str = "self") -> list[str]:
    """The process_* metrics of the Prometheus client libraries, from /proc (none where it is missing)."""
    try:
        stat = (proc / pid / "stat").read_text().rsplit(")", 1)[1].split()
        boot = next(int(line.split()[1]) for line in (proc / "stat").read_text().splitlines()
                    if line.startswith("btime "))
        fds = len(os.listdir(proc / pid / "fd"))
    except (OSError, StopIteration, IndexError, ValueError):
        return []
    ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    # Fields after the command name: state is [0], utime [11], stime [12], starttime [19], vsize [20], rss [21].
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    start = boot + int(stat[19]) / ticks
    out = metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
                 [f"process_cpu_seconds_total {cpu:.2f}"])
    out += metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                  [f"process_resident_memory_bytes {int(stat[21]) * page}"])
    out += metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                  [f"process_virtual_memory_bytes {int(stat[20])}"])
    out += metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                  [f"process_start_time_seconds {start:.2f}"])
    out += metric("process_open_fds", "gauge", "Number of open file descriptors.", [f"process_open_fds {fds}"])
    return out
