"""A length-aware item response model of judge preferences, for estimating a model's win rates from a subset.

Many models' soft preferences y[m, i] = preference - 1 over the same instructions are fitted jointly as

    logit E[y] = theta_m + (phi_m + c_i) * x[m, i] + b_i + a_m . u_i

where x[m, i] = tanh(delta_len / sd(delta_len)) is the model's length difference with the baseline as the LC
spec features it, theta_m its ability, phi_m its own length slope, b_i the instruction's easiness, c_i the
instruction's extra length slope (some instructions reward length more), and a_m . u_i a low-rank interaction
(which kinds of instruction suit which models). The instruction terms are what a subset file stores; the model
terms of the fitted models give a Gaussian prior for a new model, whose terms are then estimated from the
judgments it has (MAP), with a Laplace posterior for the uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import expit, log_expit

FloatArray = npt.NDArray[np.float64]

DIMS = 4  # interaction rank; 3-5 tie in leave-models-out error, fewer underfit (benchmarks/subset_accuracy.py)
RIDGE_INTERACTION = 1.0  # L2 on a_m and u_i
RIDGE_EASINESS = 0.5  # L2 on b_i (theta_m is free)
RIDGE_SLOPE = 1.0  # L2 on c_i


@dataclass(frozen=True)
class ItemModel:
    """The fitted terms: per model (theta, phi, a) as rows of `abilities`, per instruction b, c and u."""

    abilities: FloatArray  # (models, 2 + dims): theta, phi, a...
    easiness: FloatArray  # (items,)
    slope: FloatArray  # (items,)
    embedding: FloatArray  # (items, dims)


def length_feature(delta_len: FloatArray) -> FloatArray:
    """tanh(delta_len / sd(delta_len)) over one model's rows (ddof 1; NaN lengths stay NaN), as the LC spec."""
    sd = float(np.nanstd(delta_len, ddof=1)) if np.sum(~np.isnan(delta_len)) > 1 else 0.0
    return np.tanh(delta_len / sd) if sd > 0 else np.zeros_like(delta_len)


def fit_items(y: FloatArray, x: FloatArray, dims: int = DIMS, seed: int = 0) -> ItemModel:
    """Fit the joint model by L-BFGS on many models' judgments.

    Args:
        y: (models, items) soft preferences in [0, 1], NaN where a model lacks a judgment.
        x: (models, items) length features (`length_feature` per model), NaN where unknown.
        dims: rank of the interaction.
        seed: seed of the initial embedding (the fit is deterministic given it).
    """
    from scipy.optimize import minimize

    n_models, n_items = y.shape
    observed = ~(np.isnan(y) | np.isnan(x))
    yz, xz = np.where(observed, y, 0.0), np.where(observed, x, 0.0)
    shapes = [(n_models, 2 + dims), (n_items,), (n_items,), (n_items, dims)]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(p: FloatArray) -> list[FloatArray]:
        return [part.reshape(s) for part, s in zip(np.split(p, np.cumsum(sizes)[:-1]), shapes, strict=True)]

    def loss(p: FloatArray) -> tuple[float, FloatArray]:
        q, b, c, u = unpack(p)
        theta, phi, a = q[:, 0], q[:, 1], q[:, 2:]
        eta = theta[:, None] + (phi[:, None] + c[None, :]) * xz + b[None, :] + a @ u.T
        ll = (yz * log_expit(eta) + (1 - yz) * log_expit(-eta)) * observed
        g = (expit(eta) - yz) * observed
        value = -ll.sum() + RIDGE_INTERACTION * (np.sum(a**2) + np.sum(u**2))
        value += RIDGE_EASINESS * np.sum(b**2) + RIDGE_SLOPE * np.sum(c**2)
        gq = np.column_stack([g.sum(1), (g * xz).sum(1), g @ u + 2 * RIDGE_INTERACTION * a])
        gb, gc = g.sum(0) + 2 * RIDGE_EASINESS * b, (g * xz).sum(0) + 2 * RIDGE_SLOPE * c
        gu = g.T @ a + 2 * RIDGE_INTERACTION * u
        return float(value), np.concatenate([gq.ravel(), gb, gc, gu.ravel()])

    rng = np.random.default_rng(seed)
    start = np.zeros(sum(sizes))
    q0 = np.zeros(shapes[0])
    q0[:, 2:] = rng.normal(0, 0.1, (n_models, dims))
    start[: sizes[0]] = q0.ravel()
    start[-sizes[3] :] = rng.normal(0, 0.1, sizes[3])
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    q, b, c, u = unpack(result.x)
    return ItemModel(q, b, c, u)


@dataclass(frozen=True)
class Posterior:
    """A new model's terms (theta, phi, a...) at the MAP, and their Laplace covariance."""

    mean: FloatArray
    cov: FloatArray

    def predict(self, terms: FloatArray, x: FloatArray, items: ItemModel) -> FloatArray:
        """Expected soft preference on every instruction for terms (one row, or draws as rows)."""
        t = np.atleast_2d(terms)
        slope = t[:, [1]] + items.slope[None, :]
        eta = t[:, [0]] + slope * x[None, :] + items.easiness + t[:, 2:] @ items.embedding.T
        out: FloatArray = expit(eta)
        return out[0] if terms.ndim == 1 else out


def fit_new_model(
    y: FloatArray, x: FloatArray, items: ItemModel, prior_mean: FloatArray, prior_cov: FloatArray
) -> Posterior:
    """MAP terms of one model from its judged instructions, under the Gaussian prior (damped Newton).

    Args:
        y: soft preferences in [0, 1] on every instruction, NaN where not judged.
        x: the model's length feature on every instruction.
        items: the fitted instruction terms.
        prior_mean: prior mean of (theta, phi, a...).
        prior_cov: its covariance.
    """
    judged = ~np.isnan(y)
    z = np.column_stack([np.ones(judged.sum()), x[judged], items.embedding[judged]])
    offset = items.easiness[judged] + items.slope[judged] * x[judged]
    target, precision = y[judged], np.linalg.inv(prior_cov)

    def objective(q: FloatArray) -> float:
        eta = z @ q + offset
        d = q - prior_mean
        return float(-(target * log_expit(eta) + (1 - target) * log_expit(-eta)).sum() + 0.5 * d @ precision @ d)

    q, value = prior_mean.copy(), objective(prior_mean)
    hessian = precision
    for _ in range(100):
        p = expit(z @ q + offset)
        grad = z.T @ (p - target) + precision @ (q - prior_mean)
        hessian = (z * (p * (1 - p))[:, None]).T @ z + precision
        step, t = np.linalg.solve(hessian, grad), 1.0
        while (new := objective(q - t * step)) > value + 1e-12 and t > 1e-8:  # backtrack: never a worse point
            t /= 2
        q, value = q - t * step, new
        if np.abs(t * step).max() < 1e-9:
            break
    return Posterior(q, np.linalg.inv(hessian))
