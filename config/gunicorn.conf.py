"""gunicorn in production: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Sync workers, each serving one request at a time, 2 × cores + 1 of them (gunicorn's own advice): a worker
also spends time off the CPU, waiting for PostgreSQL (a submit's commit waits for its WAL to reach the
disk) and, after each answer, for the client to close the connection, and meanwhile the others keep the
cores busy. WEB_CONCURRENCY sets another count; BIND the address (a reverse proxy in front serves HTTPS).
"""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * len(os.sched_getaffinity(0)) + 1)
