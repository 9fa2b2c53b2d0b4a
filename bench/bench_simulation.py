"""Simulation: a year of one store's history replayed through a version, effects recorded, next to
the same replay with the real effects (the live engine) measured in the same run.

Setup (built once per database, reused while its size matches): one store, ``--customers``
customers (100,000) with 1 to 19 subscription orders each over the last 365 days (about 10 each,
~1,000,000 order events), customer figures refreshed; a store reward policy (at most 6 rewards per
customer in 30 days) and an experience with a branch, an A/B split, a wait, a segment node and
credit nodes (re-entry at most once per 30 days, a budget), published.

Measured:
- the simulation of the live version over 365 days, end to end (``run_simulation``: counting,
  reading the history in pages, set-based condition statements per page and day, the walk);
- the real thing: the same events, from the start of the same history, through
  ``experiences.actions.process_events`` in the worker's batches of 25 (runs, steps, grants and
  memberships written for real) for ``--real`` events (20,000), inside a transaction rolled back
  at the end so the store stays as it was. Its cost per event is extrapolated to the whole
  history, and the ratio simulation / real is printed per event.

Run against its own database:
``make bench BENCH_ARGS=simulation TEST_DATABASE_URL=postgres://.../subexp_bench_simulation``.
Options: ``--customers=N --real=N``.
"""

from __future__ import annotations

import time
from decimal import Decimal

SLUG = "bench-simulation"


def _options(argv: list[str]) -> dict:
    opts = {"customers": 100_000, "real": 20_000}
    for arg in argv:
        name, _, value = arg.lstrip("-").partition("=")
        if name in opts and value.isdigit():
            opts[name] = int(value)
    return opts


def _graph(vip_id: int):
    nodes = [
        {"key": "trigger", "type": "trigger", "config": {
            "event": "order_processed",
            "conditions": [[{"field": "orders_count", "operator": "gte", "value": 2}]]}},
        {"key": "split", "type": "ab_split", "config": {
            "paths": [{"label": "A", "percent": 50}, {"label": "B", "percent": 50}]}},
        {"key": "branch", "type": "condition", "config": {"branches": [
            {"label": "big", "conditions": [
                [{"field": "order.total", "operator": "gte", "value": 60}]]},
            {"label": "vip", "conditions": [
                [{"field": "total_spent", "operator": "gte", "value": 300}]]}]}},
        {"key": "credit-big", "type": "credit", "config": {"amount": "5.00"}},
        {"key": "add-vip", "type": "segment", "config": {"segment_id": vip_id}},
        {"key": "wait", "type": "wait", "config": {"mode": "duration", "minutes": 7 * 1440}},
        {"key": "credit-later", "type": "credit", "config": {"amount": "2.00"}},
        {"key": "end", "type": "end", "config": {}},
    ]  # fmt: skip
    edges = [
        {"source": "trigger", "target": "split"},
        {"source": "split", "target": "branch", "branch": "A"},
        {"source": "split", "target": "wait", "branch": "B"},
        {"source": "branch", "target": "credit-big", "branch": "big"},
        {"source": "branch", "target": "add-vip", "branch": "vip"},
        {"source": "branch", "target": "end", "branch": "else"},
        {"source": "credit-big", "target": "end"},
        {"source": "add-vip", "target": "end"},
        {"source": "wait", "target": "credit-later"},
        {"source": "credit-later", "target": "end"},
    ]
    return nodes, edges


def _store(n_customers: int):
    """The bench store with its history: reused when it holds this many customers."""
    from django.db import connection, transaction

    from rewards.models import RewardPolicy
    from segments.figures import refresh_store_figures
    from segments.models import Customer, Store

    store = Store.objects.filter(slug=SLUG).first()
    if store is not None and Customer.objects.filter(store=store).count() == n_customers:
        return store
    if store is not None:
        raise SystemExit(f"Store {SLUG} exists with another size: use a fresh database.")
    started = time.perf_counter()
    with transaction.atomic():
        store = Store.objects.create(
            name="Bench simulation", slug=SLUG, experiences_enabled=True, rewards_enabled=True
        )
        RewardPolicy.objects.create(store=store, max_rewards_per_customer=6, period_days=30)
        with connection.cursor() as cursor:
            cursor.execute("SELECT setseed(0.7)")
            cursor.execute(
                "INSERT INTO segments_customer (store_id, shopify_id, recharge_id, email,"
                " first_name, last_name, tags, accepts_marketing, created_at, orders_count,"
                " subscription_orders_count, total_spent, subscription_aov,"
                " active_subscriptions_count, streak, updated_at)"
                " SELECT %s, '', '', 'sim' || g || '@example.com', 'Sim', '', '[]', true,"
                " now() - interval '400 days', 0, 0, 0, 0, 0, 0, now()"
                " FROM generate_series(1, %s) g",
                [store.pk, n_customers],
            )
            cursor.execute(
                "INSERT INTO segments_order (store_id, customer_id, external_id, recharge_id,"
                " name, total, currency, source, type, is_subscription,"
                " is_first_subscription_order, discount_codes, financial_status, processed_at)"
                " SELECT c.store_id, c.id, 'sim-' || c.id || '-' || g, '', '',"
                " 10 + floor(random() * 70), 'USD', 'shopify_checkout', 'recurring', true,"
                " g = 1, '[]', 'paid',"
                " now() - interval '365 days' + random() * interval '364 days'"
                " FROM segments_customer c, generate_series(1, 1 + (c.id %% 19)::int) g"
                " WHERE c.store_id = %s",
                [store.pk],
            )
            # Statistics of the rows just written, or the figures' join plans for a tiny table.
            cursor.execute("ANALYZE segments_order")
            cursor.execute("ANALYZE segments_customer")
        refresh_store_figures(store.pk)
    print(f"built the history in {time.perf_counter() - started:.1f}s")
    return store


def _experience(store):
    from experiences import actions
    from experiences.models import Experience
    from segments.models import Segment

    # A fresh experience each run; the earlier ones archived (the real replay then starts only
    # this one's runs).
    for earlier in Experience.objects.filter(store=store).exclude(status="archived"):
        actions.archive_experience(earlier)
    vip = Segment.objects.create(store=store, name=f"VIP {time.time_ns()}", kind="static")
    experience = actions.create_experience(
        store,
        name=f"Simulated {time.time_ns()}",
        kind="reward_strategy",
        reentry="once_per_n_days",
        reentry_days=30,
        holdout_percent=10,
        reward_budget=Decimal("400000.00"),
    )
    nodes, edges = _graph(vip.pk)
    _, report = actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
    assert report.ok, report.as_dict()
    actions.publish_draft(experience)
    experience.refresh_from_db()
    return experience


class _Rollback(Exception):
    pass


def _real(store, simulation, limit: int) -> tuple[int, float]:
    """The same history's first ``limit`` events through the live engine, rolled back."""
    from django.db import transaction

    from experiences import actions
    from experiences.simulation import history

    events = []
    for page in history.read_events(
        store.pk, simulation.period_start, simulation.period_end, {history.ORDER}
    ):
        events += [item.event for item in page]
        if len(events) >= limit:
            break
    events = events[:limit]
    started = time.perf_counter()
    try:
        with transaction.atomic():
            for i in range(0, len(events), 25):
                actions.process_events(events[i : i + 25])
            elapsed = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return len(events), elapsed


def main(argv: list[str]) -> None:
    from bench.bench_experiences import _ensure_database
    from experiences.models import Simulation
    from experiences.simulation.run import run_simulation, start_simulation

    opts = _options(argv)
    _ensure_database()
    store = _store(opts["customers"])
    experience = _experience(store)
    simulation = start_simulation(experience, version=experience.live_version.number, days=365)
    started = time.perf_counter()
    status = run_simulation(simulation.pk)
    sim_seconds = time.perf_counter() - started
    simulation = Simulation.objects.get(pk=simulation.pk)
    if status != Simulation.Status.DONE:
        raise SystemExit(f"simulation {status}: {simulation.error}")
    result = simulation.result
    events = simulation.progress_done
    print(
        f"simulation: {events:,} events of {opts['customers']:,} customers over 365 days"
        f" in {sim_seconds:.1f}s ({events / sim_seconds:,.0f} events/s,"
        f" {1e6 * sim_seconds / events:.0f} us/event); aim: under 120s"
    )
    rewards = result["rewards"]
    print(
        f"  entered {result['entered']:,} customers, {result['runs']:,} runs,"
        f" {result['held_out']:,} held out, {result['refused_by_reentry']:,} refused by re-entry;"
        f" rewards {rewards['count']:,} ({rewards['cost']} {rewards['currency']}),"
        f" {rewards['skipped_by_cap']:,} skipped by the cap;"
        f" segment adds {result['segment_changes']['added']:,};"
        f" warnings {[w['code'] for w in result['warnings']]}"
    )
    for node in result["nodes"]:
        paths = {k: v["count"] for k, v in node["paths"].items()}
        print(f"  {node['node']:>13}: reached {node['reached']:>7,} {paths or ''}")
    real_events, real_seconds = _real(store, simulation, opts["real"])
    per_real = real_seconds / real_events
    per_sim = sim_seconds / events
    print(
        f"real effects (live engine, batches of 25, rolled back): {real_events:,} events in"
        f" {real_seconds:.1f}s ({real_events / real_seconds:,.0f} events/s,"
        f" {1e6 * per_real:.0f} us/event); the whole history would take"
        f" ~{per_real * events:.0f}s"
    )
    print(
        f"ratio simulation / real per event: {per_sim / per_real:.3f}"
        f" (the simulation costs {'less' if per_sim <= per_real else 'MORE'} than the real thing)"
    )
