"""Agreement of the judge with maintainers' own labels: Cohen's kappa with its asymptotic 95% interval.

Pure numpy. The interval uses the large-sample standard error of Fleiss, Cohen and Everitt (1969), the one
SAS and statsmodels report (``statsmodels.stats.inter_rater.cohens_kappa``)::

    var(κ) = [ Σ_i p_ii (1 − (p_i· + p_·i)(1 − κ))²  +  (1 − κ)² Σ_{i≠j} p_ij (p_·i + p_j·)²
               − (κ − p_e (1 − κ))² ] / (n (1 − p_e)²)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LABELS = ("safe", "unsafe", "refusal")


@dataclass(frozen=True)
class Kappa:
    kappa: float | None
    low: float | None
    high: float | None
    n: int
    observed: float | None


def confusion(first: Sequence[str], second: Sequence[str], labels: Sequence[str] = LABELS) -> np.ndarray:
    """counts[i, j]: pairs labelled labels[i] by the first rater and labels[j] by the second."""
    index = {label: i for i, label in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for a, b in zip(first, second, strict=True):
        table[index[a], index[b]] += 1
    return table


def cohens_kappa(table: np.ndarray, *, level: float = 0.95) -> Kappa:
    """Cohen's kappa of a square count table, with its asymptotic interval (None where undefined)."""
    table = np.asarray(table, dtype=float)
    n = int(table.sum())
    if n == 0:
        return Kappa(None, None, None, 0, None)
    p = table / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    observed = float(np.trace(p))
    expected = float(rows @ cols)
    if expected >= 1.0:  # both raters used one and the same label throughout: kappa is undefined
        return Kappa(None, None, None, n, observed)
    kappa = (observed - expected) / (1.0 - expected)
    diag = np.diag(p)
    term1 = float(np.sum(diag * (1.0 - (rows + cols) * (1.0 - kappa)) ** 2))
    off = p.copy()
    np.fill_diagonal(off, 0.0)
    term2 = (1.0 - kappa) ** 2 * float(np.sum(off * (cols[:, None] + rows[None, :]) ** 2))
    term3 = (kappa - expected * (1.0 - kappa)) ** 2
    var = max(term1 + term2 - term3, 0.0) / (n * (1.0 - expected) ** 2)
    z = float(stats.norm.ppf(1.0 - (1.0 - level) / 2.0))
    se = var ** 0.5
    return Kappa(float(kappa), float(kappa - z * se), float(kappa + z * se), n, observed)
