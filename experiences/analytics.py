"""Experience analytics: the funnel of each version, its rewards, and its outcome against the
holdout (or between the paths of an A/B split), refreshed into ``ExperienceSummary`` rows by the
store's analytics refresh (registered in ``ExperiencesConfig.ready``).

Every figure is an SQL aggregate; the comparisons are computed from per-group counts, means,
variances and covariances (``segments.analytics.stats``), so no customer's row reaches Python.

Outcome: each customer enters a version at their first run of it; the holdout are the customers
whose run was held out. A customer counts in a window (30 or 90 days) once the whole window has
passed since they entered. Metrics: the share who ordered, orders per customer and revenue per
customer in the window; the covariate for CUPED is their orders in the 90 days before entering.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.db.models import Count

from rewards.queries import reward_figures
from segments.analytics import stats
from segments.analytics.refresh import RefreshContext
from segments.queries import scoped

from .models import Experience, ExperienceSummary, ExperienceVersion, Node, Run, RunStep

OUTCOME_WINDOWS = (30, 90)
PRE_DAYS = 90
HOLDOUT = "holdout"
TREATMENT = "entered"


# --- funnel ---------------------------------------------------------------------------------


def funnel(version: ExperienceVersion) -> list[dict]:
    """Customers who reached each node of the version and, where it splits, each path's count."""
    nodes = list(Node.objects.filter(version=version).order_by("pk").values("pk", "key", "type"))
    steps = RunStep.objects.filter(run__version=version, run__store_id=version.store_id)
    reached = dict(
        steps.values_list("node_id").annotate(n=Count("run__customer", distinct=True)).order_by()
    )
    paths: dict[int, dict[str, int]] = {}
    for node_id, branch, n in (
        steps.filter(status=RunStep.Status.DONE)
        .exclude(branch="")
        .values_list("node_id", "branch")
        .annotate(n=Count("run__customer", distinct=True))
        .order_by()
    ):
        paths.setdefault(node_id, {})[branch] = n
    answer = []
    for node in nodes:
        node_paths = paths.get(node["pk"], {})
        total = sum(node_paths.values())
        answer.append(
            {
                "node": node["key"],
                "type": node["type"],
                "reached": reached.get(node["pk"], 0),
                "paths": node_paths,
                "shares": {b: round(n / total, 4) for b, n in node_paths.items()} if total else {},
            }
        )
    return answer


# --- outcome --------------------------------------------------------------------------------


def _comparison_mode(version: ExperienceVersion) -> tuple[str, int | None]:
    """``holdout`` when customers were held out, else ``ab_split`` (its node), else ``none``."""
    if Run.objects.filter(version=version, status=Run.Status.HELD_OUT).exists():
        return "holdout", None
    split = Node.objects.filter(version=version, type="ab_split").order_by("pk").first()
    if split is not None:
        return "ab_split", split.pk
    return "none", None


def _group_moments(version: ExperienceVersion, mode: str, split_id, window: int, now) -> dict:
    """Per group (and over both, key None): n, ordered, and the moments of each metric."""
    w = f"interval '{int(window)} days'"
    pre = f"interval '{PRE_DAYS} days'"
    if mode == "ab_split":
        group = "s.branch"
        join = (
            "JOIN experiences_runstep s ON s.run_id = e.run_id AND s.node_id = %(split)s "
            "AND s.status = 'done'"
        )
    else:
        group = f"CASE WHEN e.status = 'held_out' THEN '{HOLDOUT}' ELSE '{TREATMENT}' END"
        join = ""
    with connection.cursor() as cur:
        cur.execute(
            f"""
            WITH e AS (
                SELECT DISTINCT ON (r.customer_id) r.customer_id, r.id AS run_id, r.status,
                       r.started_at AS t
                FROM experiences_run r
                WHERE r.version_id = %(version)s AND r.store_id = %(store)s
                ORDER BY r.customer_id, r.started_at, r.id
            ), g AS (
                SELECT e.customer_id, e.t, {group} AS grp FROM e {join}
                WHERE e.t <= %(now)s - {w}
            ), per AS (
                SELECT g.customer_id, g.grp,
                    count(o.id) FILTER (WHERE o.processed_at >= g.t) AS y_orders,
                    coalesce(sum(o.total) FILTER (WHERE o.processed_at >= g.t), 0) AS y_revenue,
                    count(o.id) FILTER (WHERE o.processed_at < g.t) AS x
                FROM g LEFT JOIN segments_order o
                  ON o.customer_id = g.customer_id AND o.cancelled_at IS NULL
                    AND o.financial_status NOT IN ('refunded', 'voided')
                 AND o.processed_at >= g.t - {pre} AND o.processed_at < g.t + {w}
                GROUP BY g.customer_id, g.grp
            )
            SELECT grp, count(*), count(*) FILTER (WHERE y_orders > 0),
                   avg(y_orders), var_samp(y_orders), avg(y_revenue), var_samp(y_revenue),
                   avg(x), var_samp(x), covar_samp(x, y_orders), covar_samp(x, y_revenue)
            FROM per GROUP BY grp ORDER BY grp
            """,
            {"version": version.pk, "store": version.store_id, "now": now, "split": split_id},
        )
        rows = cur.fetchall()
    groups = {}
    for grp, n, ordered, *moments in rows:
        my_o, vy_o, my_r, vy_r, mx, vx, c_o, c_r = (float(v or 0) for v in moments)
        groups[grp] = {
            "customers": n,
            "ordered": ordered,
            "orders": stats.Moments(n, my_o, vy_o, mx, vx, c_o),
            "revenue": stats.Moments(n, my_r, vy_r, mx, vx, c_r),
        }
    return groups


def _pairs(mode: str, labels: list[str]) -> list[tuple[str, str]]:
    """The comparisons: entered against the holdout, or every path of the split against its
    first path (the control)."""
    if mode == "holdout":
        return [(HOLDOUT, TREATMENT)]
    if mode == "ab_split" and len(labels) >= 2:
        return [(labels[0], label) for label in labels[1:]]
    return []


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (same order as given)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def multiple_comparisons_note(control: str, paths: int) -> str:
    return (
        f"The other {paths - 1} paths are each compared with the first, {control} (the control): "
        f"{paths - 1} comparisons per measure and window. Their p-values are Holm-adjusted "
        "within each measure and window; the 95% confidence intervals are not adjusted, so with "
        "several comparisons one of them may leave out zero by chance."
    )


def _num(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


def _sentence(metric: str, a: str, b: str, r: stats.Result, currency: str) -> str:
    direction = "more" if r.difference > 0 else "less"
    if r.difference == 0:
        return f"{b} and {a} did the same; 95% CI {r.ci_low:.2f} to {r.ci_high:.2f}."
    if metric.startswith("ordered"):
        return (
            f"{b} ordered {abs(r.difference) * 100:.1f} points {direction} often than {a}; "
            f"95% CI {r.ci_low * 100:.1f} to {r.ci_high * 100:.1f} points."
        )
    if metric.startswith("orders"):
        return (
            f"{b} placed {abs(r.difference):.2f} {direction} orders per customer than {a}; "
            f"95% CI {r.ci_low:.2f} to {r.ci_high:.2f}."
        )
    return (
        f"{b} spent {abs(r.difference):.2f} {currency} {direction} per customer than {a}; "
        f"95% CI {r.ci_low:.2f} to {r.ci_high:.2f} {currency}."
    )


def _compare(groups: dict, a_name: str, b_name: str, window: int, currency: str) -> list[dict]:
    """The three comparisons of group ``b_name`` against ``a_name`` in one window."""
    rows: list[dict] = []
    empty = {"customers": 0, "ordered": 0, "orders": None, "revenue": None}
    a, b = groups.get(a_name, empty), groups.get(b_name, empty)
    enough = stats.enough_data(a["customers"], b["customers"], a["ordered"], b["ordered"])
    for metric in ("ordered_rate", "orders_per_customer", "revenue_per_customer"):
        row = {
            "metric": metric,
            "window_days": window,
            "a": a_name,
            "b": b_name,
            "enough_data": enough,
            "difference": None,
            "ci_low": None,
            "ci_high": None,
            "p_value": None,
            "p_value_holm": None,
            "method": "two-proportion z test" if metric == "ordered_rate" else "Welch's t-test",
            "cuped": None,
            "summary": (
                f"Not enough data yet: each group needs at least {stats.MIN_CUSTOMERS} "
                f"customers and {stats.MIN_EVENTS} who ordered ({a_name}: {a['customers']} "
                f"and {a['ordered']}, {b_name}: {b['customers']} and {b['ordered']})."
            ),
        }
        if enough:
            if metric == "ordered_rate":
                r = stats.two_proportions(
                    a["ordered"], a["customers"], b["ordered"], b["customers"]
                )
            else:
                key = "orders" if metric == "orders_per_customer" else "revenue"
                r = stats.welch(a[key], b[key])
                adjusted, theta = stats.cuped(a[key], b[key])
                narrower = 1 - adjusted.width / r.width if r.width else 0.0
                row["cuped"] = {
                    "difference": _num(adjusted.difference),
                    "ci_low": _num(adjusted.ci_low),
                    "ci_high": _num(adjusted.ci_high),
                    "p_value": _num(adjusted.p_value, 6),
                    "theta": _num(theta),
                    "narrower_by": _num(narrower),
                    "summary": (
                        f"With CUPED (orders in the {PRE_DAYS} days before entering as the "
                        f"covariate): 95% CI {adjusted.ci_low:.2f} to {adjusted.ci_high:.2f}, "
                        f"{narrower * 100:.0f}% narrower."
                    ),
                }
            row.update(
                difference=_num(r.difference),
                ci_low=_num(r.ci_low),
                ci_high=_num(r.ci_high),
                p_value=_num(r.p_value, 6),
                summary=_sentence(metric, a_name, b_name, r, currency),
            )
        rows.append(row)
    return rows


def outcome(version: ExperienceVersion, now: dt.datetime, currency: str) -> dict:
    """Groups and comparisons in the 30 and 90 days after entering."""
    mode, split_id = _comparison_mode(version)
    labels: list[str] = []
    if mode == "ab_split":
        config = Node.objects.get(pk=split_id).config or {}
        labels = [p.get("label") for p in config.get("paths", []) if p.get("label")]
    answer: dict = {
        "window_days": list(OUTCOME_WINDOWS),
        "mode": mode,
        "groups": {},
        "comparisons": [],
        "control": labels[0] if mode == "ab_split" and labels else None,
        "multiple_comparisons": (
            multiple_comparisons_note(labels[0], len(labels)) if len(labels) > 2 else None
        ),
    }
    for window in OUTCOME_WINDOWS:
        groups = _group_moments(version, mode, split_id, window, now)
        for name, g in groups.items():
            answer["groups"].setdefault(name, {})[str(window)] = {
                "customers": g["customers"],
                "ordered_rate": _num(g["ordered"] / g["customers"]) if g["customers"] else None,
                "orders_per_customer": _num(g["orders"].mean_y),
                "revenue_per_customer": str(Decimal(g["revenue"].mean_y).quantize(Decimal("0.01"))),
            }
        family: dict[str, list[dict]] = {}
        for a_name, b_name in _pairs(mode, labels):
            for row in _compare(groups, a_name, b_name, window, currency):
                family.setdefault(row["metric"], []).append(row)
                answer["comparisons"].append(row)
        for rows in family.values():
            tested = [r for r in rows if r["p_value"] is not None]
            for r, adjusted in zip(tested, holm([r["p_value"] for r in tested]), strict=True):
                r["p_value_holm"] = _num(adjusted, 6)
    return answer


# --- refresh --------------------------------------------------------------------------------


def refresh_version(
    version: ExperienceVersion,
    now: dt.datetime,
    as_of: dt.datetime | None = None,
    *,
    outcome_too: bool = True,
) -> ExperienceSummary:
    """Write the version's summary; ``outcome_too=False`` keeps the outcome already computed
    (its windows are whole and end before today, so a same-day refresh cannot change it)."""
    store = version.store
    runs = scoped(Run, store).filter(version=version).values("id")
    values = {
        "store": store,
        "experience_id": version.experience_id,
        "funnel": funnel(version),
        "rewards": reward_figures(store, experience_id=version.experience_id, run_ids=runs),
        "computed_at": now,
    }
    existing = ExperienceSummary.objects.filter(version=version).first()
    if outcome_too or existing is None:
        values["outcome"] = outcome(version, as_of or now, store.currency)
    summary, _ = ExperienceSummary.objects.update_or_create(version=version, defaults=values)
    return summary


def refresh_experiences(ctx: RefreshContext) -> int:
    """Refresh the summaries of the store's versions that moved since the last refresh.

    Funnel and rewards follow runs and grants (updated since); the outcome follows the orders
    dated before today of customers who entered that arrived since the watermark (late) or
    changed since the last refresh (cancelled, refunded, edited), and the day (its windows end
    at the start of today). Each test is an EXISTS over an index.
    """
    from django.db.models import Q

    from rewards.models import RewardGrant
    from segments.models import Order

    with_runs = set(
        scoped(Run, ctx.store).values_list("version_id", flat=True).distinct().order_by()
    )
    versions = list(scoped(ExperienceVersion, ctx.store).filter(pk__in=with_runs).order_by("pk"))
    everything = ctx.full or ctx.new_day or ctx.since is None
    late_customers = (
        scoped(Order, ctx.store)
        .filter(processed_at__lt=ctx.as_of)
        .filter(
            Q(id__gt=ctx.order_watermark)
            | (Q(updated_at__gt=ctx.changed_since) if ctx.changed_since else Q())
        )
        .values("customer_id")
    )
    done = 0
    for version in versions:
        outcome_too = True
        if not everything:
            runs = scoped(Run, ctx.store).filter(
                experience_id=version.experience_id, version=version
            )
            outcome_too = runs.filter(customer_id__in=late_customers).exists()
            moved = (
                outcome_too
                or not ExperienceSummary.objects.filter(version=version).exists()
                or runs.filter(updated_at__gt=ctx.since).exists()
                or scoped(RewardGrant, ctx.store)
                .filter(experience_id=version.experience_id, updated_at__gt=ctx.since)
                .exists()
            )
            if not moved:
                continue
        refresh_version(version, ctx.now, ctx.as_of, outcome_too=outcome_too)
        ctx.beat()
        done += 1
    return done


# --- read -----------------------------------------------------------------------------------


def version_for(experience: Experience, number: int | None) -> ExperienceVersion | None:
    if number is None:
        return experience.live_version or (
            experience.versions.exclude(state=ExperienceVersion.State.DRAFT)
            .order_by("-number")
            .first()
        )
    return experience.versions.filter(number=number).first()


def experience_analytics(experience: Experience, version: ExperienceVersion | None) -> dict:
    """The published shape of an experience's analytics for one version."""
    from segments.analytics.read import refresh_status

    summary = ExperienceSummary.objects.filter(version=version).first() if version else None
    versions = list(
        experience.versions.exclude(state=ExperienceVersion.State.DRAFT)
        .order_by("-number")
        .values_list("number", flat=True)
    )
    return {
        "experience": experience.pk,
        "version": version.number if version else None,
        "versions": versions,
        "computed_at": summary.computed_at if summary else None,
        "refresh": refresh_status(experience.store),
        "funnel": summary.funnel if summary else [],
        "rewards": summary.rewards if summary else None,
        "outcome": summary.outcome if summary else None,
    }


__all__ = ["experience_analytics", "refresh_experiences", "version_for"]
