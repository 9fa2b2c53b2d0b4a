"""A webhook that arrives while the database cannot be reached is answered 503 with Retry-After
(deliver again), never a 500: a real server process whose database is down."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_webhook_while_the_database_is_down_is_a_503_with_retry_after(tmp_path):
    # given the product served by a real server whose database is not reachable (a closed port)
    port, dead = _free_port(), _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{dead}/gone",
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path),
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi", "-b",
         f"127.0.0.1:{port}", "-w", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        # when Shopify and Recharge deliver a webhook
        answers = [
            httpx.post(
                f"{base}/webhooks/shopify/",
                content=b'{"id": 1}',
                headers={
                    "Content-Type": "application/json",
                    "X-Shopify-Shop-Domain": "shop.myshopify.com",
                    "X-Shopify-Topic": "orders/paid",
                    "X-Shopify-Hmac-Sha256": "x",
                },
                timeout=10,
            ),
            httpx.post(
                f"{base}/webhooks/recharge/some-store/",
                content=b'{"charge": {}}',
                headers={"Content-Type": "application/json", "X-Recharge-Topic": "charge/paid"},
                timeout=10,
            ),
        ]
    finally:
        server.terminate()
        server.wait(10)
    # then each is told to deliver again shortly, with the reason
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "5"
        assert answer.json()["field"] == "database"
