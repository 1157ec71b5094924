"""The bench's PNG: create -> Succeeded latency of every action over the phase, and its CDF, per side and phase."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def latency_plot(phases: dict[str, dict[str, list[tuple[float, float]]]], out: Path) -> Path:
    """phases: phase title -> side label -> [(created s after the phase began, create -> Succeeded s)]."""
    fig, axes = plt.subplots(len(phases), 2, figsize=(12, 4.2 * len(phases)), squeeze=False)
    for row, (title, sides) in enumerate(phases.items()):
        over_time, cdf = axes[row]
        for label, series in sides.items():
            if not series:
                continue
            created, latency = zip(*series, strict=True)
            over_time.plot(created, latency, ".", markersize=3, label=label)
            ordered = sorted(latency)
            cdf.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=label)
        over_time.set(title=f"{title}: create -> Succeeded over time", xlabel="created at (s after the first create)",
                      ylabel="create -> Succeeded (s)")
        cdf.set(title=f"{title}: CDF of create -> Succeeded", xlabel="create -> Succeeded (s)", ylabel="fraction of actions")
        for ax in (over_time, cdf):
            ax.grid(alpha=0.3)
            ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
