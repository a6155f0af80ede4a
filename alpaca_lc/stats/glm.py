"""Logistic regression on soft targets, fitted by Newton's method for many weightings at once.

The LC estimate and every bootstrap replicate are the same small GLM (3 coefficients) under different
sample weights, so one vectorised Newton solve handles them all; `tests/stats/test_glm.py` checks that it
agrees with statsmodels' GLM fit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def expit(z: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """The logistic function 1 / (1 + exp(-z)), to full relative precision and without overflow (numpy only:
    scipy.special costs a third of a second to import, which every command would pay)."""
    result: FloatArray = np.negative(np.asarray(z, dtype=float), out=out)
    np.clip(result, -709.0, 709.0, out=result)
    np.exp(result, out=result)
    result += 1.0
    np.reciprocal(result, out=result)
    return result


_RIDGE = 1e-9  # keeps the Newton system solvable when a feature is constant (e.g. all lengths equal)
_CHUNK = 128  # fits solved together: keeps the (fits x rows) work arrays in cache
_TRUST = 0.5  # steps larger than this (in any coefficient) get a line search


def fit_soft_logistic(
    x: FloatArray,
    y: FloatArray,
    weights: FloatArray,
    *,
    start: FloatArray | None = None,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> FloatArray:
    """Maximum-likelihood logistic coefficients (no intercept column added) for soft targets y in [0, 1].

    Args:
        x: design matrix, shape (n, k).
        y: targets in [0, 1], shape (n,).
        weights: sample weights, shape (n,) for one fit or (b, n) for b fits at once.
        start: initial coefficients, shape (k,); bootstrap refits start from the point estimate.
    Returns:
        Coefficients, shape (k,) or (b, k) to match `weights`.
    """
    single = weights.ndim == 1
    w = np.atleast_2d(weights)
    if len(w) > _CHUNK:  # cache-sized blocks of fits run faster than one memory-bound block
        blocks = [_fit_block(x, y, w[i : i + _CHUNK], start, max_iter, tol) for i in range(0, len(w), _CHUNK)]
        return np.vstack(blocks)
    beta = _fit_block(x, y, w, start, max_iter, tol)
    return beta[0] if single else beta


def _fit_block(
    x: FloatArray, y: FloatArray, w: FloatArray, start: FloatArray | None, max_iter: int, tol: float
) -> FloatArray:
    b, k = w.shape[0], x.shape[1]
    beta = np.zeros((b, k)) if start is None else np.tile(start, (b, 1))
    outer = np.einsum("ni,nj->nij", x, x).reshape(len(x), k * k)
    wy_x = (w * y) @ x
    # Work buffers reused across iterations: fresh (b, n) temporaries cost more in page faults than in math.
    eta, p, q = np.empty(w.shape), np.empty(w.shape), np.empty(w.shape)
    loss: FloatArray | None = None
    for _ in range(max_iter):
        np.matmul(beta, x.T, out=eta)
        expit(eta, out=p)
        np.multiply(w, p, out=q)
        grad = q @ x - wy_x
        np.multiply(q, p, out=eta)  # eta is free again: reuse it for w p (1 - p)
        np.subtract(q, eta, out=q)
        hess = (q @ outer).reshape(b, k, k) + _RIDGE * np.eye(k)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        size = np.max(np.abs(step))
        if size > _TRUST:  # far from the optimum: guard the step against overshooting
            loss = _loss(x, y, w, beta) if loss is None else loss
            beta, loss = _damped_update(x, y, w, beta, step, loss)
        else:  # near it the full Newton step is safe and converges quadratically
            beta, loss = beta - step, None
        if size < tol:
            break
    return beta


def _damped_update(
    x: FloatArray, y: FloatArray, w: FloatArray, beta: FloatArray, step: FloatArray, loss: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Take the Newton step, halving it (per fit) where it would increase the loss."""
    scale = np.ones(len(beta))
    for _ in range(30):
        cand = beta - scale[:, None] * step
        new_loss = _loss(x, y, w, cand)
        worse = new_loss > loss + 1e-12 * np.abs(loss)
        if not worse.any():
            break
        scale = np.where(worse, scale / 2, scale)
    return cand, new_loss


def _loss(x: FloatArray, y: FloatArray, w: FloatArray, beta: FloatArray) -> FloatArray:
    eta = beta @ x.T
    # -[y log p + (1-y) log(1-p)] written stably with logaddexp.
    per = np.logaddexp(0, eta) - y * eta
    return (w * per).sum(axis=1)


def logistic(x: npt.ArrayLike) -> FloatArray:
    """The logistic function, numerically stable."""
    return expit(np.asarray(x, dtype=float))
