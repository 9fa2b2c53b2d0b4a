"""The flow builder: how fast a large graph opens and becomes interactive in headless Chromium,
and how fast a draft save of a 200-node graph answers.

A server process (``runserver --insecure``, DEBUG off) runs on a database of its own
(``<database>_bench_builder``, recreated each run). Baselines from the same run: a trivial page
(``/healthz``) opened by the same browser, and a trivial API request (``GET node-types/``) for the
save. Targets: 200 nodes interactive < 1 s, 500 nodes < 2 s, the 200-node save < 300 ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from bench.bench_ingest import PLAIN_HTTP, _free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _database() -> str:
    import psycopg
    from django.db import connection

    s = dict(connection.settings_dict)
    name = f"{s['NAME'].removeprefix('test_')}_bench_builder"
    user, host, port = (
        s.get("USER") or "postgres",
        s.get("HOST") or "127.0.0.1",
        s.get("PORT") or 5432,
    )
    password = s.get("PASSWORD") or None
    with psycopg.connect(
        host=host, port=port, user=user, password=password, dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    connection.settings_dict["NAME"] = name
    secret = f":{password}" if password else ""
    return f"postgres://{user}{secret}@{host}:{port}/{name}"


def graph(size: int) -> tuple[list[dict], list[dict]]:
    """A realistic large graph: a trigger, then A/B splits fanning out into chains of waits."""
    nodes = [{"key": "trigger", "type": "trigger", "config": {"confirm_every_order": True},
              "position": {"x": 0, "y": 0}}]  # fmt: skip
    edges = []
    frontier = [("trigger", "")]
    i = 0
    while len(nodes) + len(frontier) < size - 1:
        source, branch = frontier.pop(0)
        i += 1
        if i % 5 == 0:
            key = f"split-{i}"
            paths = [{"label": "A", "percent": 50}, {"label": "B", "percent": 50}]
            nodes.append({"key": key, "type": "ab_split", "config": {"paths": paths},
                          "position": {"x": (i % 20) * 220, "y": (i // 20) * 140}})  # fmt: skip
            frontier += [(key, "A"), (key, "B")]
        else:
            key = f"wait-{i}"
            nodes.append({"key": key, "type": "wait", "config": {"minutes": 60},
                          "position": {"x": (i % 20) * 220, "y": (i // 20) * 140}})  # fmt: skip
            frontier.append((key, ""))
        edges.append({"source": source, "target": key, "branch": branch})
    for n, (source, branch) in enumerate(frontier):
        key = f"end-{n}"
        nodes.append({"key": key, "type": "end", "config": {},
                      "position": {"x": (n % 20) * 220, "y": 4000 + (n // 20) * 140}})  # fmt: skip
        edges.append({"source": source, "target": key, "branch": branch})
    return nodes, edges


def main(argv: list[str]) -> None:
    from django.core.management import call_command
    from playwright.sync_api import sync_playwright
    from rest_framework.authtoken.models import Token

    from experiences import actions
    from segments.models import Role
    from tests.fixtures.browser import CHROMIUM_ARGS, launch_chromium
    from tests.fixtures.factories import make_store, make_user

    url = _database()
    call_command("migrate", verbosity=0)
    store = make_store(name="Bench", slug="bench")
    owner = make_user(store, Role.OWNER, username="bench-owner")
    token = Token.objects.create(user=owner).key
    experiences = {}
    for size in (200, 500):
        experience = actions.create_experience(store, name=f"{size} nodes", kind="reward_strategy")
        nodes, edges = graph(size)
        actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
        experiences[size] = (experience, nodes, edges)
    from django.db import connection

    connection.close()
    port = _free_port()
    from django.conf import settings

    # The same secret key as this process: the browser's session cookie is made here, and the
    # store's webhook secrets were encrypted with a key derived from it.
    secret = settings.SECRET_KEY
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "SECRET_KEY": secret,
           "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING", **PLAIN_HTTP}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(100):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        _bench_browser(base, owner, experiences, launch_chromium, sync_playwright)
        _bench_save(base, token, experiences[200])
    finally:
        server.terminate()
        server.wait(10)
    print(f"(chromium args: {' '.join(CHROMIUM_ARGS)})")


def _session_cookie(user) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _bench_browser(base, owner, experiences, launch_chromium, sync_playwright) -> None:
    from django.conf import settings

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cookie = _session_cookie(owner)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])
        page = context.new_page()
        page.goto(f"{base}/app/experiences/{experiences[200][0].pk}/builder/")  # warm caches
        try:
            page.wait_for_selector('.react-flow__node[data-id="trigger"]')
        except Exception:
            page.screenshot(path=os.path.join(ROOT, "var", "bench-builder.png"))
            print(page.content()[:1500])
            raise
        trivial = []
        for _ in range(5):
            started = time.perf_counter()
            page.goto(f"{base}/healthz")
            trivial.append(time.perf_counter() - started)
        baseline = statistics.median(trivial)
        print(f"trivial page (/healthz) in the browser: {baseline * 1000:.0f} ms (median of 5)")
        for size, target in ((200, 1.0), (500, 2.0)):
            experience = experiences[size][0]
            times = []
            for _ in range(3):
                started = time.perf_counter()
                page.goto(f"{base}/app/experiences/{experience.pk}/builder/")
                page.wait_for_selector('.react-flow__node[data-id="trigger"]')
                page.locator('.react-flow__node[data-id="trigger"]').click()
                page.wait_for_selector('[data-testid="node-panel"][data-node="trigger"]')
                times.append(time.perf_counter() - started)
            took = statistics.median(times)
            verdict = "ok" if took < target else "OVER TARGET"
            print(
                f"{size}-node graph: loaded and interactive (node selected, its form shown) in "
                f"{took * 1000:.0f} ms (median of 3; target < {target * 1000:.0f} ms, {verdict}; "
                f"{took / baseline:.1f}x the trivial page)"
            )
        browser.close()


def _bench_save(base, token, bench) -> None:
    import httpx

    experience, nodes, edges = bench
    headers = {"Authorization": f"Token {token}"}
    api = f"{base}/api/v1/stores/bench"
    with httpx.Client(headers=headers, timeout=30) as client:
        trivial = []
        for _ in range(10):
            started = time.perf_counter()
            client.get(f"{api}/experiences/{experience.pk}/").raise_for_status()
            trivial.append(time.perf_counter() - started)
        revision = client.get(f"{api}/experiences/{experience.pk}/draft/").json()["revision"]
        saves = []
        for n in range(10):
            moved = [
                {**node, "position": {"x": node["position"]["x"] + n, "y": 0}} for node in nodes
            ]
            started = time.perf_counter()
            answer = client.put(
                f"{api}/experiences/{experience.pk}/draft/",
                json={"revision": revision, "nodes": moved, "edges": edges},
            )
            saves.append(time.perf_counter() - started)
            answer.raise_for_status()
            revision = answer.json()["revision"]
    baseline, took = statistics.median(trivial), statistics.median(saves)
    verdict = "ok" if took < 0.3 else "OVER TARGET"
    print(f"trivial API request (GET experience): {baseline * 1000:.1f} ms (median of 10)")
    print(
        f"draft save of the 200-node graph: {took * 1000:.0f} ms (median of 10; target < 300 ms, "
        f"{verdict}; {took / baseline:.1f}x the trivial request)"
    )
