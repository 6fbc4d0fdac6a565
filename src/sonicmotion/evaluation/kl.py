"""KL divergence between paired tagger outputs, and the CLAP score.

KL direction, as AudioLDM's evaluation (``audioldm_eval``, "softmax over logits"):
``KL(reference ‖ generated) = Σ_k p_ref(k) · (log p_ref(k) - log p_gen(k))`` with
``p = softmax(logits)`` over the tagger's classes, computed per pair of clips with the
same id and averaged over pairs. Log-softmax is evaluated directly (float64), so no
epsilon is added (audioldm_eval adds 1e-6 to the generated probabilities before the
log; that changes results only where a probability is below ~1e-6).
"""

from __future__ import annotations

import numpy as np

from sonicmotion.errors import SonicMotionError


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (N, K) logits, float64."""
    x = np.asarray(logits, dtype=np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def kl_divergence(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """Per-row ``KL(p ‖ q)`` in nats from (N, K) log-probabilities.

    Terms with p = 0 contribute 0 (the limit of p log p); q = 0 where p > 0 gives inf.
    """
    log_p, log_q = np.asarray(log_p, dtype=np.float64), np.asarray(log_q, dtype=np.float64)
    if log_p.shape != log_q.shape or log_p.ndim != 2:
        raise SonicMotionError(f"KL needs two (count, classes) arrays of one shape, got {log_p.shape} and {log_q.shape}")
    p = np.exp(log_p)
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0, p * (log_p - log_q), 0.0)
    return terms.sum(axis=-1)


def paired_kl(reference_logits: np.ndarray, generated_logits: np.ndarray) -> np.ndarray:
    """``KL(softmax(reference) ‖ softmax(generated))`` per pair, (N,) nats."""
    return kl_divergence(log_softmax(reference_logits), log_softmax(generated_logits))


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) arrays, float64 (N,)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise SonicMotionError(f"cosine similarity needs two (count, dim) arrays of one shape, got {a.shape} and {b.shape}")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    if np.any(norms == 0):
        raise SonicMotionError("cosine similarity of a zero vector is undefined")
    return np.einsum("nd,nd->n", a, b) / norms
