"""Soak: the whole stack under a steady stream of webhooks, for minutes, and what it costs.

Run: ``make bench BENCH_ARGS="soak"`` (10 minutes) or ``BENCH_ARGS="soak --minutes=2"``.

Runs gunicorn (2 workers, 4 threads) and one Celery worker (2 processes, every queue, beat
embedded so the sweeps run) on a database of its own (``<database>_bench_soak``) and the Redis of
``CELERY_BROKER_URL``; the store has three dynamic segments and a live experience, so every
order moves through ingest, segment evaluation and the engine.

1. Ramp: open-loop senders post the realistic stream at rising rates (``--ramp``, per second,
   ``--step-seconds`` each) and keep the highest rate whose p99 webhook latency stays under
   100 ms while processing keeps up (the oldest waiting event younger than 10 s). ``--rate=N``
   skips the ramp.
2. Sustain that rate for ``--minutes``: webhook latency (p50, p99, max), processing lag (the
   oldest waiting inbound event, sampled every 5 s), and each process's resident memory (the
   sum of its process tree) after the first minute and at the end; growth over 10% is flagged.

The baseline, measured in the same run: the same senders at the same rate against ``/healthz``
(the trivial view), whose p99 is printed next to the webhook's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from bench.bench_ingest import (
    BIN,
    ROOT,
    _bench_database,
    _env,
    _free_port,
    _listening_store,
    _percentile,
    _purge,
    _requests,
    _wait_ready,
)

LATENCY_MS = 100
LAG_SECONDS = 10


def _options(argv):
    parser = argparse.ArgumentParser(prog="bench soak")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=0, help="skip the ramp: this rate")
    parser.add_argument("--ramp", default="20,40,60,80,100,130,160,200")
    parser.add_argument("--step-seconds", type=float, default=20)
    return parser.parse_args(argv)


class Stream:
    """The realistic webhook stream, generated in chunks of new customers as it is consumed."""

    def __init__(self, store):
        self.store, self.next_customer, self.buffer = store, 0, []

    def take(self, count: int) -> list:
        while len(self.buffer) < count:
            chunk = _requests(self.store, 2000, first=self.next_customer)
            self.buffer += [("POST", path, body, headers) for path, body, headers in chunk]
            self.next_customer += 2000
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken


async def _open_loop(base: str, jobs: list, rate: float) -> tuple[list[float], dict]:
    """Send the jobs at ``rate`` per second whatever the answers' speed (an open loop, as
    platforms send); return latencies and statuses."""
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=64)

    async def one(client, method, path, body, headers):
        started = time.perf_counter()
        try:
            response = await client.request(method, path, content=body, headers=headers)
            code = response.status_code
        except httpx.HTTPError:
            code = 0
        latencies.append(time.perf_counter() - started)
        statuses[code] = statuses.get(code, 0) + 1

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        tasks = []
        for n, (method, path, body, headers) in enumerate(jobs):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, method, path, body, headers)))
        await asyncio.gather(*tasks)
    return latencies, statuses


def _lag() -> float:
    from ops.queries import backlog

    return backlog().oldest_received_seconds


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _step(base: str, stream: Stream, rate: float, seconds: float) -> tuple[float, float, dict]:
    """Send at ``rate`` for ``seconds``; return p99 ms, the lag after, statuses."""
    latencies, statuses = asyncio.run(_open_loop(base, stream.take(int(rate * seconds)), rate))
    return _percentile(latencies, 0.99), _lag(), statuses


def _sustain(base: str, stream: Stream, rate: float, minutes: float, procs: dict) -> dict:
    """Send at ``rate`` for ``minutes`` in slices of 5 s, sampling lag and memory."""
    latencies: list[float] = []
    minutes_p99: list[float] = []
    statuses: dict[int, int] = {}
    lags: list[float] = []
    memory_start: dict[str, float] = {}
    slices = max(1, int(minutes * 60 / 5))
    for n in range(slices):
        got, codes = asyncio.run(_open_loop(base, stream.take(int(rate * 5)), rate))
        latencies += got
        for code, count in codes.items():
            statuses[code] = statuses.get(code, 0) + count
        lags.append(_lag())
        if n % 12 == 11:  # each minute's p99: is a high one spread out or one burst?
            minutes_p99.append(_percentile(latencies[-int(rate * 60) :], 0.99))
        if n == min(11, slices - 1):  # after the first minute: caches and pools are warm
            memory_start = {name: _tree_rss_mb(p.pid) for name, p in procs.items()}
    memory_end = {name: _tree_rss_mb(p.pid) for name, p in procs.items()}
    return {
        "latencies": latencies,
        "statuses": statuses,
        "lags": lags,
        "minutes_p99": minutes_p99,
        "memory": (memory_start, memory_end),
    }


def main(argv: list[str]) -> None:
    from celery import current_app
    from django.core.management import call_command
    from django.db import connection

    from tests.fixtures.factories import make_store

    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = _options(argv)
    if connection.vendor != "postgresql" or not current_app.conf.broker_url.startswith("redis"):
        print("bench soak needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis)")
        return
    database_url, _ = _bench_database(suffix="soak")
    call_command("migrate", verbosity=0)
    store = make_store(slug="bench", shopify_domain="bench.myshopify.com")
    _listening_store(store)
    env = {**_env(database_url), "PROMETHEUS_MULTIPROC_DIR": str(ROOT / "var" / "bench-soak")}
    subprocess.run(["rm", "-rf", env["PROMETHEUS_MULTIPROC_DIR"]], check=True)
    os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"])
    _purge(current_app)
    port = _free_port()
    procs = {
        "web (gunicorn -w 2 --threads 4)": subprocess.Popen(
            [str(BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2",
             "--threads", "4", "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True,
        ),
        "worker (celery -c 2 -B, all queues)": subprocess.Popen(
            [str(BIN / "celery"), "-A", "config", "worker", "-B", "-c", "2", "-l", "warning",
             "-Q", "default,ingest,segments,analytics,experiences,scheduled",
             "-s", str(ROOT / "var" / "bench-soak" / "celerybeat-schedule")],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    }  # fmt: skip
    try:
        _wait_ready(port)
        base = f"http://127.0.0.1:{port}"
        stream = Stream(store)
        print(f"load average at start: {os.getloadavg()}")
        _step(base, stream, 10, 10)  # warm up: connections, caches, the first imports of each path
        rate = options.rate
        if not rate:
            for step in (float(r) for r in options.ramp.split(",")):
                p99, lag, statuses = _step(base, stream, step, options.step_seconds)
                holds = p99 < LATENCY_MS and lag < LAG_SECONDS
                print(f"ramp {step:5.0f}/s: p99 {p99:6.1f} ms, lag after {lag:5.1f} s,"
                      f" {statuses} -> {'holds' if holds else 'does not hold'}")  # fmt: skip
                if not holds:
                    break
                rate = step
                time.sleep(5)  # let the queues settle between steps
            if not rate:
                print("not even the first ramp step held; sustaining it anyway")
                rate = float(options.ramp.split(",")[0])
        print(f"\nsustaining {rate:.0f} webhooks/s for {options.minutes:g} min")
        result = _sustain(base, stream, rate, options.minutes, procs)
        lat = result["latencies"]
        trivial, _ = asyncio.run(
            _open_loop(base, [("GET", "/healthz", None, {})] * int(rate * 20), rate)
        )
        drained_after = None
        started = time.monotonic()
        while time.monotonic() - started < 300:
            if _lag() == 0:
                drained_after = time.monotonic() - started
                break
            time.sleep(0.5)
        lags = result["lags"]
        print(f"  webhooks sent       {len(lat)}  statuses {result['statuses']}")
        print(f"  webhook latency     p50 {_percentile(lat, 0.5):.1f} ms  p99"
              f" {_percentile(lat, 0.99):.1f} ms  max {max(lat) * 1000:.1f} ms")  # fmt: skip
        p99, trivial_p99 = _percentile(lat, 0.99), max(_percentile(trivial, 0.99), 0.001)
        print(f"  baseline /healthz   p50 {_percentile(trivial, 0.5):.1f} ms  p99"
              f" {trivial_p99:.1f} ms at the same rate; webhook p99 ratio"
              f" {p99 / trivial_p99:.2f}")  # fmt: skip
        print(
            "  p99 of each minute  " + ", ".join(f"{v:.0f}" for v in result["minutes_p99"]) + " ms"
        )
        print(f"  processing lag      median {sorted(lags)[len(lags) // 2]:.1f} s,"
              f" max {max(lags):.1f} s (oldest waiting event, every 5 s);"
              f" drained {drained_after if drained_after is None else round(drained_after, 1)}"
              " s after the load")  # fmt: skip
        start_mem, end_mem = result["memory"]
        for name in procs:
            before, after = start_mem.get(name, 0.0), end_mem[name]
            growth = (after - before) / before * 100 if before else 0.0
            flag = "ok" if growth <= 10 else "GROWTH OVER 10%"
            print(f"  memory {name:<36} {before:7.1f} MB -> {after:7.1f} MB"
                  f" ({growth:+.1f}%) {flag}")  # fmt: skip
        print(f"  load average at end {os.getloadavg()} (a shared machine: other work ran too)")
    finally:
        for proc in procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
