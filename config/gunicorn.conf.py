"""gunicorn settings for the web process (``-c config/gunicorn.conf.py``).

With ``PROMETHEUS_MULTIPROC_DIR`` set, every worker writes its metrics to files there and the
``/metrics`` view sums them; a worker that exits is marked dead so its live gauges stop counting.
"""

import os

accesslog = "-"
timeout = 30
graceful_timeout = 20


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
