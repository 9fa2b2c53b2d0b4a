"""The production shape: DEBUG off unless asked, a required SECRET_KEY, HTTPS settings, and
``manage.py check --deploy`` clean. Each case runs Django in a fresh process with its own
environment, as gunicorn would start."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
    "s.SECURE_HSTS_SECONDS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
)


def _env(tmp_path, **values):
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DEBUG",
            "SECRET_KEY",
            "SECURE_PROXY_SSL_HEADER",
            "ALLOWED_HOSTS",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        VAR_DIR=str(tmp_path / "var"),
        # a real server's URL; these checks never connect to it
        DATABASE_URL="postgres://nobody@127.0.0.1:9/unused",
    )
    env.update(values)
    return env


def _python(env, *args):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_without_debug_in_the_environment_a_secret_key_is_required(tmp_path):
    # given an environment that says nothing about DEBUG and sets no SECRET_KEY
    result = _python(_env(tmp_path), "-c", PRINT_SETTINGS)
    # then Django refuses to start, saying why
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_debug_is_off_and_https_settings_on_unless_the_environment_says_otherwise(tmp_path):
    # given only a secret key and a proxy header in the environment
    env = _env(
        tmp_path,
        SECRET_KEY="k" * 60,
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
    )
    result = _python(env, "-c", PRINT_SETTINGS)
    # then DEBUG is off, cookies are secure, HTTPS is enforced with HSTS, the proxy is trusted
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "True",
        "True",
        "True",
        "31536000",
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
    ]


def test_debug_one_gives_the_embedded_development_shape(tmp_path):
    # given DEBUG=1 (what `make run` sets) and no secret key
    result = _python(_env(tmp_path, DEBUG="1"), "-c", PRINT_SETTINGS)
    # then it starts, in debug, with plain-HTTP cookies and no HSTS
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "False", "False", "0", "None"]


def test_check_deploy_is_clean_in_the_production_shape(tmp_path):
    # given the production shape: a long random key, DEBUG off, a host name
    env = _env(tmp_path, SECRET_KEY=os.urandom(40).hex(), ALLOWED_HOSTS="shop.example.com")
    # when Django's deployment checklist runs, failing on warnings too
    result = _python(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    # then it finds nothing
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_dedupe_retention_shorter_than_the_platforms_retries_is_refused(tmp_path):
    # given delivery keys kept one day, shorter than Recharge's 48 hours of retries
    env = _env(tmp_path, DEBUG="1", INBOUND_DEDUPE_RETENTION_DAYS="1")
    result = _python(env, "-c", PRINT_SETTINGS)
    # then Django refuses to start, saying which setting and why
    assert result.returncode != 0
    assert "INBOUND_DEDUPE_RETENTION_DAYS must be 0 (keep forever) or at least 3" in result.stderr
    # and three days are accepted
    env["INBOUND_DEDUPE_RETENTION_DAYS"] = "3"
    assert _python(env, "-c", PRINT_SETTINGS).returncode == 0


def test_an_inbound_event_retention_shorter_than_its_keys_or_a_month_is_refused(tmp_path):
    # given inbound event months dropped after 20 days (the operations page shows 31)
    env = _env(tmp_path, DEBUG="1", INBOUND_EVENT_RETENTION_DAYS="20")
    result = _python(env, "-c", PRINT_SETTINGS)
    # then Django refuses to start, saying which setting and why
    assert result.returncode != 0
    assert "INBOUND_EVENT_RETENTION_DAYS must be 0 (keep forever) or at least 35" in result.stderr
    # and so it does for a retention shorter than the delivery keys' own
    env.update(INBOUND_EVENT_RETENTION_DAYS="40", INBOUND_DEDUPE_RETENTION_DAYS="60")
    assert _python(env, "-c", PRINT_SETTINGS).returncode != 0
    # while 0 (forever) and 35 days are accepted
    for days in ("0", "35"):
        env.update(INBOUND_EVENT_RETENTION_DAYS=days, INBOUND_DEDUPE_RETENTION_DAYS="30")
        assert _python(env, "-c", PRINT_SETTINGS).returncode == 0, days
