"""An A/B split with three paths: every path is compared with the first (the control), each
comparison checked against scipy and statsmodels, with Holm-adjusted p-values over the family
and a plain note that several comparisons are made (intervals not adjusted)."""

import numpy as np
import pytest
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from experiences.analytics import holm
from segments.analytics.refresh import run_refresh

from .seed import NOW, make_version, seed_outcome

pytestmark = pytest.mark.django_db

URL = "/api/v1/stores/{slug}/experiences/{id}/analytics/"
SPLIT = {
    "paths": [
        {"label": "A", "percent": 34},
        {"label": "B", "percent": 33},
        {"label": "C", "percent": 33},
    ]
}
NODES = [("trigger", "trigger", {}), ("split", "ab_split", SPLIT)]


@pytest.fixture
def three_paths(store):
    experience, version, nodes = make_version(store, nodes=NODES)
    data = seed_outcome(store, version, nodes, groups={"A": 70, "B": 60, "C": 65}, rng_seed=11)
    assert run_refresh(store.pk, now=NOW) == "done"
    return experience, data


def test_every_path_is_compared_with_the_first_like_scipy_and_statsmodels(
    api, viewer, store, three_paths
):
    experience, data = three_paths
    outcome = api(viewer).get(URL.format(slug=store.slug, id=experience.pk)).json()["outcome"]
    assert outcome["mode"] == "ab_split" and outcome["control"] == "A"
    assert "2 comparisons per measure" in outcome["multiple_comparisons"]
    assert "not adjusted" in outcome["multiple_comparisons"]
    rows = outcome["comparisons"]
    assert len(rows) == 2 * 3 * 2  # two paths against A, three measures, two windows
    for window in (30, 90):
        for metric, key in (
            ("ordered_rate", "o"),
            ("orders_per_customer", "o"),
            ("revenue_per_customer", "r"),
        ):
            family = [r for r in rows if r["metric"] == metric and r["window_days"] == window]
            assert [(r["a"], r["b"]) for r in family] == [("A", "B"), ("A", "C")]
            ya = np.array(data["A"][f"{key}{window}"], dtype=float)
            expected_p = []
            for r in family:
                yb = np.array(data[r["b"]][f"{key}{window}"], dtype=float)
                assert r["enough_data"]
                if metric == "ordered_rate":
                    xa, xb = int((ya > 0).sum()), int((yb > 0).sum())
                    low, high = confint_proportions_2indep(
                        xb, len(yb), xa, len(ya), method="wald", compare="diff"
                    )
                    _z, p = proportions_ztest([xb, xa], [len(yb), len(ya)])
                    diff = xb / len(yb) - xa / len(ya)
                    assert r["method"] == "two-proportion z test"
                else:
                    welch = sp.ttest_ind(yb, ya, equal_var=False)
                    ci = welch.confidence_interval(0.95)
                    low, high, p, diff = ci.low, ci.high, welch.pvalue, yb.mean() - ya.mean()
                    assert r["method"] == "Welch's t-test"
                assert r["difference"] == pytest.approx(diff, abs=1e-4)
                assert (r["ci_low"], r["ci_high"]) == (
                    pytest.approx(low, abs=1e-4),
                    pytest.approx(high, abs=1e-4),
                )
                assert r["p_value"] == pytest.approx(p, abs=1e-5)
                expected_p.append(p)
            _reject, holm_p, _s, _b = multipletests(expected_p, method="holm")
            for r, adjusted in zip(family, holm_p, strict=True):
                assert r["p_value_holm"] == pytest.approx(adjusted, abs=1e-5)
                assert r["p_value_holm"] >= r["p_value"]


def test_holm_matches_statsmodels_on_ties_and_caps():
    p = [0.01, 0.04, 0.03, 0.5, 0.04]
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])


def test_the_page_says_several_comparisons_are_made(client, viewer, store, three_paths):
    experience, _data = three_paths
    client.force_login(viewer)
    page = client.get(f"/app/experiences/{experience.pk}/analytics/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="multiple-comparisons"' in text
    assert "Holm-adjusted" in text and "not adjusted" in text
