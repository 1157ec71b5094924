"""Where the operator's CPU goes: py-spy samples the running process during the steady phase, from outside.

From the first create until the phase is over. Two samplers run side by side (py-spy writes one format per run): a flamegraph SVG and the collapsed stacks, from
which the top functions by own time and by time including callees are written as text. Both use --nonblocking, so
the operator is never paused; they do take CPU of their own on the same cores, so a profiled run's figures are not
the bench's figures.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 100  # samples per second
OWN_CODE = "taskaction_operator/"


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not found:
        raise FileNotFoundError("no py-spy: pip install py-spy (the test extra of pyproject.toml)")
    return found


class Profile:
    def __init__(self, pid: int, out: Path):
        self.svg, self.stacks, self.top = out / "operator-flamegraph.svg", out / "operator-stacks.txt", out / "operator-top.txt"
        common = [py_spy(), "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking"]
        self.processes = [
            subprocess.Popen([*common, "--format", "flamegraph", "-o", str(self.svg)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL),
            subprocess.Popen([*common, "--format", "raw", "-o", str(self.stacks)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL),
        ]

    def finish(self) -> list[Path]:
        """Stop sampling (py-spy writes its file on SIGINT) and write the top functions."""
        for process in self.processes:
            process.send_signal(signal.SIGINT)
        for process in self.processes:
            process.wait(timeout=120)
        self.top.write_text(top_functions(self.stacks.read_text()))
        return [self.svg, self.top]


def top_functions(collapsed: str, count: int = 25) -> str:
    """`stack;frames count` lines -> the frames with the most samples, own and including callees."""
    own: Counter = Counter()
    total: Counter = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        samples += int(n)
        own[frames[-1]] += int(n)
        for frame in set(frames):
            total[frame] += int(n)
    if not samples:
        return "no samples\n"
    lines = [f"{samples} samples of a thread on CPU at {RATE}/s", "", "own time:"]
    lines += [f"{100 * n / samples:6.1f} %  {frame}" for frame, n in own.most_common(count)]
    lines += ["", "the operator's own functions, including callees:"]
    ours = [(frame, n) for frame, n in total.most_common() if OWN_CODE in frame and "__main__" not in frame]
    lines += [f"{100 * n / samples:6.1f} %  {frame}" for frame, n in ours[:count]]
    return "\n".join(lines) + "\n"
