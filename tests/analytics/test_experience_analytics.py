"""Experience analytics: funnel shares by hand, the outcome statistics against scipy and
statsmodels computed in the test from the same customers' figures."""

import numpy as np
import pytest
from scipy import stats as sp
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from segments.analytics.refresh import run_refresh
from tests.fixtures.factories import make_customer, make_store, make_user

from .seed import NOW, make_version, run, seed_outcome

pytestmark = pytest.mark.django_db

URL = "/api/v1/stores/{slug}/experiences/{id}/analytics/"
SPLIT = {"paths": [{"label": "A", "percent": 50}, {"label": "B", "percent": 50}]}
AB_NODES = [
    ("trigger", "trigger", {}),
    ("split", "ab_split", SPLIT),
    ("end_a", "end", {}),
    ("end_b", "end", {}),
]


def _get(api, user, store, experience, **params):
    return api(user).get(URL.format(slug=store.slug, id=experience.pk), params)


def test_funnel_counts_customers_per_node_and_share_per_path(api, viewer, store):
    experience, version, nodes = make_version(store, nodes=AB_NODES)
    for i in range(10):
        branch, end = ("A", nodes["end_a"]) if i < 6 else ("B", nodes["end_b"])
        run(
            version,
            make_customer(store),
            NOW,
            steps=[(nodes["trigger"], ""), (nodes["split"], branch), (end, "")],
        )
    run_refresh(store.pk, now=NOW)
    body = _get(api, viewer, store, experience).json()
    funnel = {row["node"]: row for row in body["funnel"]}
    assert funnel["trigger"]["reached"] == 10
    assert funnel["split"]["paths"] == {"A": 6, "B": 4}
    assert funnel["split"]["shares"] == {"A": 0.6, "B": 0.4}
    assert (funnel["end_a"]["reached"], funnel["end_b"]["reached"]) == (6, 4)
    assert body["version"] == 1 and body["versions"] == [1]
    # ten customers entered just now: no whole window yet, so nothing to compare
    assert all(not c["enough_data"] for c in body["outcome"]["comparisons"])


@pytest.fixture
def holdout_store(store):
    experience, version, nodes = make_version(store, nodes=AB_NODES[:1], holdout=50)
    data = seed_outcome(store, version, nodes, groups={"holdout": 70, "entered": 80})
    run_refresh(store.pk, now=NOW)
    return experience, data


def _comparison(body, metric, window):
    return next(
        c
        for c in body["outcome"]["comparisons"]
        if c["metric"] == metric and c["window_days"] == window
    )


@pytest.mark.parametrize("window", [30, 90])
def test_ordered_rate_against_the_holdout_matches_statsmodels(
    api, viewer, store, holdout_store, window
):
    experience, data = holdout_store
    body = _get(api, viewer, store, experience).json()
    assert body["outcome"]["mode"] == "holdout"
    c = _comparison(body, "ordered_rate", window)
    a, b = np.array(data["holdout"][f"o{window}"]), np.array(data["entered"][f"o{window}"])
    xa, xb = int((a > 0).sum()), int((b > 0).sum())
    low, high = confint_proportions_2indep(xb, len(b), xa, len(a), method="wald", compare="diff")
    _z, p = proportions_ztest([xb, xa], [len(b), len(a)])
    assert c["enough_data"] and c["a"] == "holdout" and c["b"] == "entered"
    assert c["difference"] == pytest.approx(xb / len(b) - xa / len(a), abs=1e-4)
    assert (c["ci_low"], c["ci_high"]) == (
        pytest.approx(low, abs=1e-4),
        pytest.approx(high, abs=1e-4),
    )
    assert c["p_value"] == pytest.approx(p, abs=1e-5)
    assert "points" in c["summary"] and "95% CI" in c["summary"]
    group = body["outcome"]["groups"]["entered"][str(window)]
    assert group["customers"] == 80


@pytest.mark.parametrize(
    "metric,key", [("orders_per_customer", "o"), ("revenue_per_customer", "r")]
)
@pytest.mark.parametrize("window", [30, 90])
def test_means_by_welch_and_cuped_match_scipy(
    api, viewer, store, holdout_store, metric, key, window
):
    experience, data = holdout_store
    c = _comparison(_get(api, viewer, store, experience).json(), metric, window)
    ya, yb = (np.array(data[g][f"{key}{window}"], dtype=float) for g in ("holdout", "entered"))
    xa, xb = (np.array(data[g]["x"], dtype=float) for g in ("holdout", "entered"))
    welch = sp.ttest_ind(yb, ya, equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert c["method"] == "Welch's t-test"
    assert c["difference"] == pytest.approx(yb.mean() - ya.mean(), abs=1e-4)
    assert c["ci_low"] == pytest.approx(ci.low, abs=1e-4)
    assert c["ci_high"] == pytest.approx(ci.high, abs=1e-4)
    assert c["p_value"] == pytest.approx(welch.pvalue, abs=1e-5)
    # CUPED by hand: theta over both groups, then Welch on the adjusted outcome.
    x, y = np.concatenate([xa, xb]), np.concatenate([ya, yb])
    theta = np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)
    adj_a, adj_b = ya - theta * (xa - x.mean()), yb - theta * (xb - x.mean())
    adjusted = sp.ttest_ind(adj_b, adj_a, equal_var=False)
    aci = adjusted.confidence_interval(0.95)
    assert c["cuped"]["theta"] == pytest.approx(theta, abs=1e-4)
    assert c["cuped"]["difference"] == pytest.approx(adj_b.mean() - adj_a.mean(), abs=1e-4)
    assert c["cuped"]["ci_low"] == pytest.approx(aci.low, abs=1e-4)
    assert c["cuped"]["ci_high"] == pytest.approx(aci.high, abs=1e-4)
    narrower = 1 - (aci.high - aci.low) / (ci.high - ci.low)
    assert c["cuped"]["narrower_by"] == pytest.approx(narrower, abs=1e-4)


def test_small_groups_say_not_enough_data(api, viewer, store):
    experience, version, nodes = make_version(store, nodes=AB_NODES)
    seed_outcome(store, version, nodes, groups={"A": 49, "B": 60})
    run_refresh(store.pk, now=NOW)
    body = _get(api, viewer, store, experience).json()
    assert body["outcome"]["mode"] == "ab_split"
    for c in body["outcome"]["comparisons"]:
        assert (c["a"], c["b"]) == ("A", "B")
        assert c["enough_data"] is False and c["difference"] is None and c["ci_low"] is None
        assert c["summary"].startswith("Not enough data yet")


@pytest.mark.parametrize("version", ["0", "x", "", "1.5", "-1"])
def test_bad_version_is_a_400(api, viewer, store, version):
    experience, *_ = make_version(store, nodes=AB_NODES[:1])
    response = _get(api, viewer, store, experience, version=version)
    assert response.status_code == 400 and "version" in response.json()


def test_missing_version_is_a_404(api, viewer, store):
    experience, *_ = make_version(store, nodes=AB_NODES[:1])
    assert _get(api, viewer, store, experience, version=7).status_code == 404


def test_another_stores_experience_is_a_404(api, store):
    experience, *_ = make_version(store, nodes=AB_NODES[:1])
    outsider = make_user(make_store())
    assert _get(api, outsider, store, experience).status_code == 404
    other = outsider.stores.get()
    response = api(outsider).get(URL.format(slug=other.slug, id=experience.pk))
    assert response.status_code == 404


def test_rewards_count_grants_by_status_cost_and_offers(api, viewer, store):
    from decimal import Decimal

    from rewards.models import CreditEntry, CrossSellOffer, RewardGrant

    experience, version, nodes = make_version(store, nodes=AB_NODES[:1])
    grants = []
    for i, (kind, status, amount) in enumerate(
        [
            ("credit", "issued", "10.00"),
            ("credit", "redeemed", "5.00"),
            ("discount", "redeemed", "3.00"),
            ("free_gift", "expired", "8.00"),
            ("credit", "revoked", "2.00"),
            ("cross_sell", "applied", "4.00"),
            ("cross_sell", "expired", "4.00"),
        ]
    ):
        customer = make_customer(store)
        r = run(version, customer, NOW, steps=[(nodes["trigger"], "")])
        grants.append(
            RewardGrant.objects.create(
                store=store,
                customer=customer,
                kind=kind,
                status=status,
                amount=Decimal(amount),
                currency="USD",
                source_key=f"test:{i}",
                experience_id=experience.pk,
                run_id=r.pk,
                item={"price": "12.50", "quantity": 2} if kind == "cross_sell" else {},
            )
        )
    CreditEntry.objects.create(
        store=store,
        customer=grants[1].customer,
        grant=grants[1],
        kind="spend",
        amount=Decimal("-5.00"),
        currency="USD",
        key="spend:1",
    )
    for grant, status in ((grants[5], "accepted"), (grants[6], "expired")):
        CrossSellOffer.objects.create(
            store=store, grant=grant, customer=grant.customer, status=status, respond_by=NOW
        )
    run_refresh(store.pk, now=NOW)
    rewards = _get(api, viewer, store, experience).json()["rewards"]
    assert {s: g["count"] for s, g in rewards["grants"].items()} == {
        "issued": 1,
        "applied": 1,
        "redeemed": 2,
        "expired": 2,
        "revoked": 1,
        "skipped": 0,
    }
    assert rewards["grants"]["redeemed"]["value"] == "8.00"
    # cost: 5.00 of credit spent and the 3.00 discount redeemed
    assert rewards["cost"] == "8.00"
    assert rewards["offers"] == {
        "shown": 0,
        "accepted": 1,
        "declined": 0,
        "expired": 1,
        "revoked": 0,
    }
    assert rewards["revenue_added"] == "25.00"  # 2 x 12.50
