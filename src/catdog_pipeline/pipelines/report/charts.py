"""The report's own chart (calibration) and PNG encoding.

The other charts are the evaluate stage's own plotting functions, so the report and
reports/figures/ can never disagree. Figures use matplotlib's object API, never pyplot.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve

MODEL_COLOUR, CHANCE_COLOUR = "#1f77b4", "grey"
DPI = 100


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def calibration_chart(
    is_positive: np.ndarray, probability: np.ndarray, positive_class: str, bins: int
) -> Figure:
    """Reliability diagram (observed vs predicted frequency) above a histogram of predictions."""
    observed, predicted = calibration_curve(is_positive, probability, n_bins=bins)
    figure = Figure(figsize=(5.0, 5.4), layout="constrained")
    curve, histogram = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    curve.plot([0, 1], [0, 1], "--", color=CHANCE_COLOUR, label="perfectly calibrated")
    curve.plot(predicted, observed, "o-", color=MODEL_COLOUR, label="model")
    curve.set(ylabel=f"observed share of {positive_class}", ylim=(0, 1.01))
    curve.set(title="Calibration (test)")
    curve.grid(alpha=0.3)
    curve.legend(loc="upper left")
    histogram.hist(probability, bins=bins, range=(0, 1), color=MODEL_COLOUR, edgecolor="white")
    histogram.set(xlabel=f"predicted P({positive_class})", ylabel="images", xlim=(0, 1))
    return figure
