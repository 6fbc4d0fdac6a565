"""Fréchet distance between Gaussians fitted to embeddings (FD on CLAP, FAD on VGGish).

``FD = |μ1 - μ2|² + tr Σ1 + tr Σ2 - 2 tr (Σ1^½ Σ2 Σ1^½)^½``

The trace of the matrix square root is computed by the eigenvalue method: Σ1^½ from
the symmetric eigendecomposition of Σ1 (negative round-off eigenvalues clipped to 0),
then the eigenvalues of the symmetric PSD matrix ``Σ1^½ Σ2 Σ1^½``, whose square roots
sum to ``tr (Σ1 Σ2)^½``. Everything is float64 and symmetric, so there is no complex
round-off to discard and no ``scipy.linalg.sqrtm(disp=...)`` (deprecated, removed in
SciPy 1.18).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ContextManager

import numpy as np

from sonicmotion.errors import SonicMotionError


@dataclass(frozen=True)
class GaussianStats:
    """Mean (D,) and covariance (D, D) of ``count`` embeddings, float64."""

    mean: np.ndarray
    covariance: np.ndarray
    count: int

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])


def gaussian_stats(embeddings: np.ndarray, what: str = "embeddings") -> GaussianStats:
    """Fit a Gaussian to (N, D) embeddings: mean and unbiased covariance (ddof=1).

    Needs N >= 2 (a covariance from one point is undefined).
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise SonicMotionError(f"{what} must have shape (count, dim), got {x.shape}")
    if x.shape[0] < 2:
        raise SonicMotionError(f"a covariance needs at least 2 {what}, got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        raise SonicMotionError(f"{what} contain NaN or infinite values")
    mean = x.mean(axis=0)
    centred = x - mean
    covariance = centred.T @ centred / (x.shape[0] - 1)
    return GaussianStats(mean, covariance, int(x.shape[0]))


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    return (matrix + matrix.T) / 2.0


def _single_thread_lapack() -> ContextManager:
    """One BLAS thread for the eigensolvers: a 512 x 512 ``eigh`` takes ~0.1 s on one
    thread but can take 100x longer when OpenBLAS threads compete for busy cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr (Σ1 Σ2)^½`` for symmetric PSD matrices, by eigenvalues (see module doc)."""
    with _single_thread_lapack():
        values, vectors = np.linalg.eigh(_symmetric(sigma1))
        root1 = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
        inner = np.linalg.eigvalsh(_symmetric(root1 @ sigma2 @ root1))
    return float(np.sqrt(np.clip(inner, 0.0, None)).sum())


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """Fréchet distance between two fitted Gaussians (>= 0; exactly 0 only up to round-off)."""
    if a.dim != b.dim:
        raise SonicMotionError(f"cannot compare {a.dim}-dimensional with {b.dim}-dimensional embeddings")
    diff = a.mean - b.mean
    value = float(diff @ diff + np.trace(a.covariance) + np.trace(b.covariance)
                  - 2.0 * trace_sqrt_product(a.covariance, b.covariance))
    # Round-off can leave a tiny negative number where the distributions coincide.
    return max(value, 0.0)
