"""gunicorn settings for production (README: Production). Every value can be overridden
from the environment; the defaults suit a small VM behind a load balancer.

The app keeps no state in the process (sessions are tokens, files are in the evidence
store, rate limits in Redis when REDIS_URL is set), so any number of these servers can
run side by side.
"""

import gc
import logging
import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
# Photo check-ins are CPU-bound (the JPEG decode, about 40 ms of CPU each): one worker
# per core this process may run on, and never fewer than two. The morning-peak load test
# (BENCHMARKS.md), 40 check-ins a second on 2 cores, alternated runs: p99 0.60 and 0.76 s
# with 2 workers, 1.13 and 0.88 s with 3. A third worker fills a worker's waits on the
# database, but makes the busy cores switch between three requests (2-3 ms more CPU
# each). A server whose requests wait longer on the network (a distant database, S3)
# may gain from more: WEB_CONCURRENCY sets it. Sync workers read the upload themselves,
# so a phone on a slow village link holds one for as long as it sends: production sits
# behind a proxy that buffers request bodies (nginx does by default; README: Production).
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, len(os.sched_getaffinity(0)))))
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
# The app writes one JSON line per request itself (with request ids, masked, without
# query strings): no second access log, whose format would log query strings; gunicorn's
# own messages go to stderr, masked too (on_starting).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Heartbeat files in memory, not on a possibly slow disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server):
    """gunicorn quotes a request it cannot parse (query string and all) in its error log:
    mask phone numbers and tokens there as the app does in its own."""
    from server.redaction import RedactingFilter

    logging.getLogger("gunicorn.error").addFilter(RedactingFilter())


def when_ready(server):
    """Load the photo index (every stored photo's perceptual hash, about 2 s a million)
    once, in the master before it forks: each worker starts with it instead of stalling
    its first check-in while it loads; the arrays are shared between them until one is
    written."""
    held = _refresh_photo_index(server)
    if held is not None:
        server.log.info("photo index loaded: %d hashes", held)
    config = server.app.wsgi().config
    in_memory = config["RATELIMIT_STORAGE_URI"].startswith("memory")
    if server.cfg.workers > 1 and config["RATE_LIMITS_ENABLED"] and in_memory:
        # Each worker would keep its own counters: a phone gets its budget once per
        # worker, and the in-memory store's expiry scans every key it holds.
        server.log.warning(
            "rate limits are counted by each of the %d workers alone: set REDIS_URL",
            server.cfg.workers,
        )


def pre_fork(server, worker):
    """Bring the master's index up to date before each fork (a refresh reads only what
    is new): a replacement worker, after max_requests, then starts current, rather than
    reading every photo since the master started on its first check-in."""
    _refresh_photo_index(server)


def _refresh_photo_index(server):
    from sqlalchemy.exc import SQLAlchemyError

    from server.extensions import db
    from server.services import photo_index

    with server.app.wsgi().app_context():
        try:
            return photo_index.warm()
        except SQLAlchemyError as exc:
            # No database yet (or not migrated): serve anyway, /readyz tells; each
            # worker then loads the index on its first check-in.
            server.log.warning("photo index not loaded: %s", type(exc).__name__)
            return None
        finally:
            db.session.remove()
            db.engine.dispose()  # the master serves nothing: no connection kept open


def post_fork(server, worker):
    """Each worker gets its own database connections (none inherited from the master),
    and moves the objects loaded at start-up out of the garbage collector's reach: a full
    collection over them took 120-190 ms of one request now and then (BENCHMARKS.md)."""
    from server.extensions import db

    with server.app.wsgi().app_context():  # `wsgi()` is the preloaded app
        db.engine.dispose(close=False)
    gc.freeze()
