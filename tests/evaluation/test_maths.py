"""Fréchet distance, KL and cosine maths against closed forms and hand-made numbers."""

import math

import numpy as np
import pytest
import scipy.linalg

from sonicmotion.errors import SonicMotionError
from sonicmotion.evaluation.frechet import GaussianStats, frechet_distance, gaussian_stats
from sonicmotion.evaluation.kl import cosine_similarity, kl_divergence, log_softmax, paired_kl


def _stats(mean, cov):
    return GaussianStats(np.asarray(mean, float), np.asarray(cov, float), 1000)


def test_diagonal_gaussians_match_closed_form():
    a = _stats([1.0, -2.0, 0.5], np.diag([4.0, 1.0, 9.0]))
    b = _stats([0.0, 1.0, 0.5], np.diag([1.0, 16.0, 9.0]))
    # |Δμ|² + Σ (√a - √b)² = (1 + 9 + 0) + (1 + 9 + 0)
    assert frechet_distance(a, b) == pytest.approx(20.0, rel=1e-12)


def test_commuting_rotated_covariances_match_closed_form():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    ea, eb = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    mu_a, mu_b = rng.standard_normal(6), rng.standard_normal(6)
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(ea) - np.sqrt(eb)) ** 2)
    got = frechet_distance(_stats(mu_a, q @ np.diag(ea) @ q.T), _stats(mu_b, q @ np.diag(eb) @ q.T))
    assert got == pytest.approx(expected, rel=1e-10)


def test_non_commuting_2x2_matches_closed_form():
    # For 2x2 M with non-negative eigenvalues, tr √M = sqrt(tr M + 2 sqrt(det M)).
    s1 = np.array([[2.0, 0.8], [0.8, 1.0]])
    s2 = np.array([[1.0, -0.3], [-0.3, 3.0]])
    assert not np.allclose(s1 @ s2, s2 @ s1)
    m = s1 @ s2
    tr_sqrt = math.sqrt(np.trace(m) + 2 * math.sqrt(np.linalg.det(m)))
    expected = 0.25 + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(_stats([0.5, 0.0], s1), _stats([0.0, 0.0], s2)) == pytest.approx(expected, rel=1e-12)


def test_matches_scipy_sqrtm_on_random_covariances():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((300, 40)), rng.standard_normal((300, 40)) @ rng.standard_normal((40, 40)) * 0.3
    a, b = gaussian_stats(x), gaussian_stats(y)
    root = scipy.linalg.sqrtm(a.covariance @ b.covariance)
    expected = np.sum((a.mean - b.mean) ** 2) + np.trace(a.covariance) + np.trace(b.covariance) - 2 * np.trace(root).real
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_fd_of_a_set_with_itself_is_zero_even_rank_deficient():
    x = np.random.default_rng(2).standard_normal((100, 512)).astype(np.float32)  # rank 99 < 512
    assert frechet_distance(gaussian_stats(x), gaussian_stats(x)) < 1e-9 * np.trace(gaussian_stats(x).covariance)


def test_fd_from_samples_approaches_population_value():
    rng = np.random.default_rng(3)
    x = rng.multivariate_normal([0, 0, 0], np.diag([1.0, 4.0, 0.25]), size=200_000)
    y = rng.multivariate_normal([1, 0, 0], np.diag([4.0, 1.0, 0.25]), size=200_000)
    assert frechet_distance(gaussian_stats(x), gaussian_stats(y)) == pytest.approx(3.0, abs=0.03)  # 1 + 1 + 1 + 0


def test_fd_needs_two_points_and_matching_dims():
    with pytest.raises(SonicMotionError, match="at least 2"):
        gaussian_stats(np.zeros((1, 8)))
    with pytest.raises(SonicMotionError, match="dimensional"):
        frechet_distance(gaussian_stats(np.ones((3, 4)) * [[1], [2], [3]]),
                         gaussian_stats(np.ones((3, 5)) * [[1], [2], [3]]))


def test_kl_on_hand_made_distributions_and_direction():
    p, q = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    expected_pq = 0.5 * math.log(2.0) + 0.5 * math.log(2.0 / 3.0)
    expected_qp = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert kl_divergence(np.log(p), np.log(q))[0] == pytest.approx(expected_pq, rel=1e-12)
    # paired_kl(reference, generated) is KL(reference ‖ generated) on softmax of logits;
    # logits shifted by a constant give the same distribution.
    assert paired_kl(np.log(p) + 7.0, np.log(q) - 3.0)[0] == pytest.approx(expected_pq, rel=1e-12)
    assert paired_kl(np.log(q), np.log(p))[0] == pytest.approx(expected_qp, rel=1e-12)
    assert expected_pq != pytest.approx(expected_qp)


def test_kl_zero_probability_terms_and_identity():
    with np.errstate(divide="ignore"):
        log_p = np.log(np.array([[1.0, 0.0, 0.0]]))
        log_q = np.log(np.array([[0.5, 0.25, 0.25]]))
        assert kl_divergence(log_p, log_q)[0] == pytest.approx(math.log(2.0))
        assert kl_divergence(log_q, log_p)[0] == math.inf
    logits = np.random.default_rng(4).standard_normal((5, 527)) * 4
    np.testing.assert_allclose(paired_kl(logits, logits), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.exp(log_softmax(logits)).sum(axis=1), 1.0, rtol=1e-12)


def test_cosine_on_constructed_vectors():
    a = np.array([[1.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    b = np.array([[1.0, 1.0], [-6.0, -8.0], [2.0, 2.0]])
    np.testing.assert_allclose(cosine_similarity(a, b), [1 / math.sqrt(2), -1.0, 1.0], rtol=1e-12)
    with pytest.raises(SonicMotionError, match="zero vector"):
        cosine_similarity(np.zeros((1, 2)), np.ones((1, 2)))
