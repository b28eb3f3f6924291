"""Bar chart of the evaluation totals ("koondpunktid") per bidder per part, as a PNG."""
from __future__ import annotations

import math
import textwrap
from decimal import Decimal
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hankebot.core.evaluation import PartResult
from hankebot.core.scoring import format_number

WINNER_COLOR = "#1b7f3b"
OTHER_COLOR = "#5b8fd1"
NAME_WIDTH = 30


def _short(name: str, width: int = NAME_WIDTH) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def totals_bar_chart(parts: list[PartResult], path: Path) -> Path:
    """Draw one horizontal bar panel per part (bidders ranked top-down, winner in green,
    values on the bars) and save it as PNG at `path`. Parts with no ranked bid say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = max(1, len(parts))
    ncols = 1 if n <= 2 else 2
    nrows = math.ceil(n / ncols)
    rows_per_panel = [max(2, len(p.ranked)) for p in parts] or [2]
    panel_h = 0.45 * max(rows_per_panel) + 1.3
    fig = Figure(figsize=(7.5 * ncols, panel_h * nrows + 0.9), dpi=110)
    FigureCanvasAgg(fig)
    fig.suptitle("Hindamise koondpunktid osade kaupa", fontsize=15, fontweight="bold")
    axes = fig.subplots(nrows, ncols, squeeze=False)

    for idx, ax in enumerate(axes.flat):
        if idx >= len(parts):
            ax.set_visible(False)
            continue
        part = parts[idx]
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        title = textwrap.shorten(f"Osa {part.part_no}: {part.part_name}", width=70, placeholder="…")
        ax.set_title("\n".join(textwrap.wrap(title, 48)), fontsize=10, loc="left")
        max_points = sum((c.weight for c in part.criteria), Decimal(0)) or Decimal(100)
        ax.set_xlim(0, float(max_points) * 1.18)
        ax.set_xlabel("Punktid", fontsize=9)
        if not part.ranked:
            ax.set_yticks([])
            note = "Hinnatud pakkumusi pole"
            if part.pending:
                note += f"\n(hindamata: {len(part.pending)})"
            ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="#555555")
            continue
        ranked = part.ranked
        slots = max(rows_per_panel)  # same bar thickness in every panel
        ys = [slots - 1 - i for i in range(len(ranked))]  # rank 1 on top
        labels = [f"{s.rank}. {_short(s.bid.bidder_name)}" for s in ranked]
        values = [float(s.total) for s in ranked]  # float only for drawing
        colors = [WINNER_COLOR if s.rank == 1 else OTHER_COLOR for s in ranked]
        bars = ax.barh(ys, values, color=colors, height=0.6)
        ax.set_yticks(ys, labels, fontsize=9)
        ax.set_ylim(-0.5, slots - 0.5)
        for bar, s in zip(bars, ranked):
            ax.text(
                bar.get_width() + float(max_points) * 0.01,
                bar.get_y() + bar.get_height() / 2,
                format_number(s.total, part.rules.rounding_places),
                va="center",
                fontsize=9,
            )
        if part.pending:
            ax.text(
                0.99, 0.02, f"hindamata: {len(part.pending)}", ha="right", va="bottom",
                transform=ax.transAxes, fontsize=8, color="#555555",
            )
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)

    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, format="png")
    return path
