"""Figure 6: delivered statuses/s over time against the rate-limit bound, one panel per concurrency,
with a tick under the curve for every request HubSpot answered 429.

Needs matplotlib (a dev-only package); without it the bench skips the plot and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def saturation_plot(
    runs: Sequence[dict[str, Any]], path: Path, title_note: str, window_bins: int
) -> str | None:
    """Write the PNG; returns why it was skipped, or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed"
    if not runs:
        return "no saturation run"
    bound = runs[0]["bound_statuses_per_s"]
    figure, panels = plt.subplots(
        len(runs), 1, figsize=(9, 2.6 * len(runs) + 1.0), dpi=110, sharex=True, squeeze=False
    )
    for axes, run, colour in zip(
        panels[:, 0], runs, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=False
    ):
        series = run["series"]
        times = [point[0] for point in series]
        rates = _rolling([point[1] for point in series], window_bins)
        axes.plot(times, rates, color=colour, linewidth=1.6, label="delivered (mean over the last window)")
        axes.axhline(
            bound, color="black", linestyle="--", linewidth=1.1, label=f"bound {bound:,.0f} statuses/s"
        )
        axes.axhline(0.9 * bound, color="grey", linestyle=":", linewidth=1.0, label="90% of the bound")
        throttled = run.get("throttled_at_s", [])
        if throttled:
            axes.plot(
                throttled,
                [bound * 0.04] * len(throttled),
                "|",
                color="red",
                markersize=9,
                label="a 429 answer",
            )
        axes.set_ylim(0, bound * 1.35)
        axes.set_ylabel("statuses/s")
        axes.set_title(
            f"{run['concurrency']} execution environments: {run['percent_of_bound']:.1f}% of the bound, "
            f"{run['percent_429']:.2f}% of {run['calls']} calls answered 429",
            fontsize=9,
        )
        axes.grid(True, alpha=0.3)
        axes.legend(loc="upper center", fontsize=7, ncol=4, frameon=False)
    panels[-1, 0].set_xlabel("seconds since the first HubSpot request")
    figure.suptitle(f"Saturation: delivered statuses/s vs the rate-limit bound\n{title_note}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return None


def _rolling(values: Sequence[float], width: int) -> list[float]:
    """Statuses/s over the last ``width`` bins (one rate-limit window); bins before the first count as 0."""
    return [sum(values[max(0, i - width + 1) : i + 1]) / width for i in range(len(values))]
