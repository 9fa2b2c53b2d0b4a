"""Comparisons of two groups of customers from SQL aggregates alone.

Every function takes what ``count``, ``avg``, ``var_samp`` and ``covar_samp`` return per group, so
no customer's row reaches Python. Differences are always ``b - a``; confidence intervals are 95%.

- Rates (the share who ordered): the two-proportion z test (pooled standard error for the test,
  the unpooled Wald interval for the difference), as ``statsmodels.stats.proportion`` computes.
- Means (orders or revenue per customer): Welch's t-test with the Welch-Satterthwaite degrees of
  freedom, as ``scipy.stats.ttest_ind(equal_var=False)``.
- CUPED: the outcome adjusted by a covariate measured before entering (orders in the 90 days
  before), ``y - theta * (x - mean(x))`` with ``theta = cov(x, y) / var(x)`` over both groups;
  the difference of adjusted means keeps its meaning and its interval is narrower by as much as
  the covariate explains.
"""

import math
from dataclasses import dataclass

from scipy import stats as _scipy

MIN_CUSTOMERS = 50
MIN_EVENTS = 5
Z_95 = _scipy.norm.ppf(0.975)


@dataclass(frozen=True)
class Moments:
    """One group's aggregates of an outcome ``y`` and a covariate ``x``."""

    n: int
    mean_y: float
    var_y: float
    mean_x: float = 0.0
    var_x: float = 0.0
    cov_xy: float = 0.0


@dataclass(frozen=True)
class Result:
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    statistic: float

    @property
    def width(self) -> float:
        return self.ci_high - self.ci_low


def enough_data(n_a: int, n_b: int, events_a: int, events_b: int) -> bool:
    """Whether both groups have at least 50 customers and 5 events each."""
    return min(n_a, n_b) >= MIN_CUSTOMERS and min(events_a, events_b) >= MIN_EVENTS


def two_proportions(x_a: int, n_a: int, x_b: int, n_b: int) -> Result:
    """Compare the shares ``x_b / n_b`` and ``x_a / n_a``."""
    p_a, p_b = x_a / n_a, x_b / n_b
    diff = p_b - p_a
    pooled = (x_a + x_b) / (n_a + n_b)
    se_test = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    se_ci = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    z = diff / se_test if se_test else 0.0
    p_value = float(2 * _scipy.norm.sf(abs(z)))
    return Result(diff, diff - Z_95 * se_ci, diff + Z_95 * se_ci, p_value, z)


def welch(a: Moments, b: Moments) -> Result:
    """Compare the means of ``y`` by Welch's t-test."""
    return _welch(b.mean_y - a.mean_y, a.var_y, a.n, b.var_y, b.n)


def cuped(a: Moments, b: Moments) -> tuple[Result, float]:
    """Welch's t-test on the CUPED-adjusted outcome; also return theta."""
    n = a.n + b.n
    mean_x = (a.n * a.mean_x + b.n * b.mean_x) / n
    # Pooled (whole-sample) variance of x and covariance of x and y from the group moments.
    mean_y = (a.n * a.mean_y + b.n * b.mean_y) / n
    ss_x = sum((g.n - 1) * g.var_x + g.n * (g.mean_x - mean_x) ** 2 for g in (a, b))
    sp_xy = sum(
        (g.n - 1) * g.cov_xy + g.n * (g.mean_x - mean_x) * (g.mean_y - mean_y) for g in (a, b)
    )
    theta = sp_xy / ss_x if ss_x else 0.0
    adj_a = a.mean_y - theta * (a.mean_x - mean_x)
    adj_b = b.mean_y - theta * (b.mean_x - mean_x)
    var_a = max(a.var_y - 2 * theta * a.cov_xy + theta**2 * a.var_x, 0.0)
    var_b = max(b.var_y - 2 * theta * b.cov_xy + theta**2 * b.var_x, 0.0)
    return _welch(adj_b - adj_a, var_a, a.n, var_b, b.n), theta


def _welch(diff: float, var_a: float, n_a: int, var_b: float, n_b: int) -> Result:
    se2 = var_a / n_a + var_b / n_b
    if se2 <= 0:
        return Result(diff, diff, diff, 1.0 if diff == 0 else 0.0, 0.0)
    se = math.sqrt(se2)
    df = se2**2 / ((var_a / n_a) ** 2 / (n_a - 1) + (var_b / n_b) ** 2 / (n_b - 1))
    t = diff / se
    q = _scipy.t.ppf(0.975, df)
    return Result(diff, diff - q * se, diff + q * se, float(2 * _scipy.t.sf(abs(t), df)), t)
