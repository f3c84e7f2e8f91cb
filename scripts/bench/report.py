"""Writing benchmark results into docs/benchmarks.md, one marked section per suite."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path

from tribunal_home import REPO_ROOT

BENCHMARKS_MD = REPO_ROOT / "docs" / "benchmarks.md"

# Above this share of the machine's CPU used by other processes during a run, its latencies are suspect.
OTHER_CPU_WARNING = 0.05


def load_note(load_before: float, other_cpu: float | None) -> str:
    """The sentence every stack bench states about the machine's load, ending in a full stop."""
    text = f"1-minute load average before the run: {load_before:.1f} on {os.cpu_count()} cores"
    if other_cpu is None:
        return text + "."
    text += f"; processes outside the bench used {other_cpu:.0%} of the CPU during it."
    if other_cpu > OTHER_CPU_WARNING:
        text += (
            " That is other work sharing the cores: the latencies are pessimistic; rerun on an idle machine."
        )
    return text


_HEADER = """# Benchmarks

Measured by `make bench` on the machine named in each section. Each suite rewrites only its own
section, so figures from different runs can sit side by side; the date and machine say which run
produced them. Targets come from the issues; a figure that misses its target says so.
"""


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(
            next(
                x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
            ).split()[1]
        )
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        mem = "unknown RAM"
    return f"{os.cpu_count()} cores ({cpu}), {mem}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def write_section(suite: str, title: str, body: str, command: str) -> Path:
    """Replace (or append) the section for ``suite`` in docs/benchmarks.md."""
    BENCHMARKS_MD.parent.mkdir(parents=True, exist_ok=True)
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else _HEADER
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{suite}:start -->\n## {title}\n\n"
        f"- date: {now}\n- machine: {machine_description()}\n- command: `{command}`\n\n"
        f"{body.strip()}\n<!-- bench:{suite}:end -->\n"
    )
    pattern = re.compile(
        rf"<!-- bench:{re.escape(suite)}:start -->.*?<!-- bench:{re.escape(suite)}:end -->\n?", re.S
    )
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    BENCHMARKS_MD.write_text(text)
    return BENCHMARKS_MD
