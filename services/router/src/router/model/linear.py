"""The linear model: one-vs-rest L2-regularised squared-hinge (a linear SVM), solved by trust-region Newton-CG.

A linear SVM on TF-IDF n-grams measured best on the development data among logistic regression, naive Bayes and
NB-SVM, and its weights read directly as "this n-gram speaks for that category" in explanations. The solver is
the one liblinear uses for this loss (a trust-region Newton method with Hessian-vector products), here through
scipy: about 25 Newton steps, each a few sparse products, instead of hundreds of L-BFGS steps. All classes are
fitted together: the objective is a sum of independent per-class terms, so this is exact and one sparse product
serves every class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.sparse import csr_matrix

Vector = NDArray[np.float64]


@dataclass(frozen=True)
class LinearWeights:
    coef: NDArray[np.float32]  # (features × classes)
    bias: NDArray[np.float32]  # (classes,)

    def scores(self, rows: csr_matrix) -> NDArray[np.float32]:
        return np.asarray(rows @ self.coef, dtype=np.float32) + self.bias


def balanced_sample_weights(y: NDArray[np.int64], n_classes: int) -> Vector:
    """Each class weighs the same in total, so a small category is not drowned by the big ones."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    per_class = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)
    return per_class[y]


def fit_linear_svm(
    rows: csr_matrix, y: NDArray[np.int64], n_classes: int, *, c: float = 1.0, tol: float = 2e-3
) -> LinearWeights:
    """`tol` is relative to the gradient at the start, as in liblinear: predictions stop changing long before an
    absolute tolerance is met (on 7,580 messages × 13 labels: 8 s instead of 75 s, same macro-F1)."""
    n, d = rows.shape
    k = n_classes
    x = rows.astype(np.float64).tocsr()
    xt = x.T.tocsr()
    signs = -np.ones((n, k))
    signs[np.arange(n), y] = 1.0
    weights = balanced_sample_weights(y, k)[:, None]
    last: dict[str, Vector] = {}

    def split(params: Vector) -> tuple[Vector, Vector]:
        return params[: d * k].reshape(d, k), params[d * k :]

    def hinge(params: Vector) -> Vector:
        # The Hessian-vector products at one point all need the same margins: compute them once per point.
        if "at" not in last or not np.array_equal(last["at"], params):
            coef, bias = split(params)
            last["at"], last["hinge"] = params.copy(), np.maximum(0.0, 1.0 - signs * (x @ coef + bias))
        return last["hinge"]

    def objective(params: Vector) -> tuple[float, Vector]:
        coef, _ = split(params)
        margin = hinge(params)
        loss = 0.5 * float(np.sum(coef * coef)) + c * float(np.sum(weights * margin * margin))
        dz = -2.0 * c * weights * signs * margin
        return loss, np.concatenate([(coef + xt @ dz).ravel(), dz.sum(axis=0)])

    def hessian_times(params: Vector, direction: Vector) -> Vector:
        active = (hinge(params) > 0) * weights
        dcoef, dbias = split(direction)
        dz = 2.0 * c * active * (x @ dcoef + dbias)
        return np.concatenate([(dcoef + xt @ dz).ravel(), dz.sum(axis=0)])

    start = np.zeros(d * k + k)
    result = minimize(
        objective,
        start,
        jac=True,
        hessp=hessian_times,
        method="trust-ncg",
        options={"gtol": tol * float(np.linalg.norm(objective(start)[1])), "maxiter": 200},
    )
    coef, bias = split(result.x)
    return LinearWeights(coef=coef.astype(np.float32), bias=bias.astype(np.float32))
