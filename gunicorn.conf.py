"""gunicorn settings for production (README: Production). Every value can be overridden
from the environment; the defaults suit a small VM behind a load balancer.

The app keeps no state in the process (sessions are tokens, files are in the evidence
store, rate limits in Redis when REDIS_URL is set), so any number of these servers can
run side by side.
"""

import gc
import multiprocessing
import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
# Photo check-ins are CPU-bound (the JPEG decode): one worker per core, plus one to
# cover the moments a worker waits on the database or the disk.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
worker_class = "sync"
# A phone on a weak village signal may take a while to send three 20 MB photos; the
# request is only parsed once fully received, so this bounds a slow upload, not the work.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so slow growth (caches, fragmentation) stays bounded.
max_requests = 2000
max_requests_jitter = 200
# Load the app once in the master: a bad configuration (default secret, no database)
# stops the server at start rather than failing in every worker.
preload_app = True
# The app writes one JSON line per request itself (with request ids): no second
# access log; gunicorn's own messages go to stderr.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Heartbeat files in memory, not on a possibly slow disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def post_fork(server, worker):
    """Each worker gets its own database connections (none inherited from the master),
    and moves the objects loaded at start-up out of the garbage collector's reach: a full
    collection over them took 120-190 ms of one request now and then (BENCHMARKS.md)."""
    from server.extensions import db

    with server.app.wsgi().app_context():  # `wsgi()` is the preloaded app
        db.engine.dispose(close=False)
    gc.freeze()
