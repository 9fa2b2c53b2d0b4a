"""Create the PostgreSQL database named by DATABASE_URL if it does not exist yet.

``make test`` runs this first so a fresh machine needs nothing but a running server: the tests
themselves use ``test_<name>``, which pytest-django creates, but the development database is
handy for ``migrate`` and ``seed_demo``. Without DATABASE_URL (the embedded server) it does
nothing: config/embedded_postgres.py creates its database itself.
"""

import os
import sys

import dj_database_url


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return 0
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(url)
    params = {
        "host": config.get("HOST") or "127.0.0.1",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
    }
    name = config["NAME"]
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as c:
            exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"created database {name}")
    except psycopg.Error as exc:
        print(
            f"cannot reach PostgreSQL at {params['host']}:{params['port']}: {exc}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
