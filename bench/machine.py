"""One line describing the machine a benchmark ran on, printed with every figure."""

from __future__ import annotations

import os
import platform

import torch


def describe() -> str:
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{cpu}; {os.cpu_count()} cores; torch {torch.__version__} ({torch.get_num_threads()} threads); {gpu}; load {load}"
