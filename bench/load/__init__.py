"""Morning-peak load test: phones log in, then send photo check-ins at fixed arrival rates
to gunicorn in production configuration, on a database filled by `bench.generate`.

    createdb -h 127.0.0.1 -U postgres load_province
    .venv/bin/python -m bench.generate --cadres 10000 --months 12 \\
        --database-url postgresql://postgres@127.0.0.1:5432/load_province
    .venv/bin/python -m bench.load \\
        --database-url postgresql://postgres@127.0.0.1:5432/load_province \\
        --rates 10,20,30,40 --seconds 60 [--phones 2000] [--json figures.json] \\
        [--keep DIR]

The runner migrates the database to head (as `make serve` does), starts gunicorn with
gunicorn.conf.py (default workers: one per core; `--workers`), a fresh SECRET_KEY and a
temporary UPLOAD_DIR, waits for /readyz, then:

1. logs in `--phones` resident cadres with an active posting today (password
   `Bench-2026`, each with the device id the generator gave them), six at a time: the
   log-in figures are reported on their own, the tokens kept for the check-ins;
2. sends `--warmup` unmeasured check-ins (each worker's first requests open its
   connections and fill its caches; the near-duplicate index of every stored photo is
   loaded once by gunicorn's master, before it forks the workers);
3. for each rate: an open loop (`client.open_loop`) starts check-ins on schedule,
   Poisson arrivals by default (`--arrivals even` for equal gaps), whether or not earlier
   ones have answered, for `--seconds`; then `--pause` seconds of quiet.

Each check-in is a presence check-in from a random point inside the cadre's geofence,
captured now (+08:00), with one real phone JPEG (`photos.py`: EXIF time and GPS
restamped, so every upload is new bytes; the same pixels, so `photo_reused` is flagged)
and a new client_id. Per rate it prints requests, rate achieved (successful answers per
second of the window), p50/p95/p99/max latency from scheduled start to the answer's last
byte, errors (non-2xx, refused, reset or timed out) and their share, CPU seconds of
gunicorn (master and workers, recycled ones included), of PostgreSQL's client backends
on the database and of the generator itself (from /proc), the machine's busy share, and
how many workers gunicorn (re)started; then the first rate whose p99 passed 1 second.

Environment given to gunicorn beyond production's: RATE_LIMIT_LOGIN_PER_ADDRESS raised
(every phone logs in from 127.0.0.1) and ACCESS_TOKEN_MINUTES long enough for the run.
gunicorn is stopped and the upload folder removed at the end; the check-ins stay in the
database. With `--keep DIR`, every request's start, latency, start lag and time in the
app go to a CSV per rate in DIR, with gunicorn's request log and error log, to see
where a tail comes from. Prints figures, asserts nothing.
"""
