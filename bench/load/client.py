"""The simulated phones' side: a minimal HTTP/1.1 client on asyncio streams, and the
open-loop schedule that starts requests on time whether or not earlier ones finished.

One connection per request (gunicorn's sync workers close it after each answer anyway;
a phone on a village network rarely keeps one). A request's latency runs from its
scheduled start to the last byte of the answer, so a generator that falls behind shows
in the figures instead of hiding the server's slowness (coordinated omission); how late
requests started is recorded too.
"""

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class Outcome:
    latency: float  # seconds, scheduled start to answer (or to failure)
    status: int | None  # None: no HTTP answer (refused, reset, timed out)
    body: bytes = b""
    error: str | None = None
    lag: float = 0.0  # how late the request actually started
    scheduled: float = 0.0  # time.monotonic() of its planned start
    request_id: str | None = None  # the app's X-Request-ID, to find it in the request log


@dataclass
class Server:
    host: str
    port: int
    timeout: float = 60.0

    async def send(self, method, path, body=b"", headers=None):
        """(status, headers, body) of one request; raises OSError or TimeoutError. The
        body may be a list of byte strings (a multipart body in pieces): the request is
        then joined once, the head included, as a phone's HTTP library streams it."""
        pieces = body if isinstance(body, list) else [body]
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Connection: close",
            f"Content-Length: {sum(len(piece) for piece in pieces)}",
        ] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        request = b"".join([("\r\n".join(head) + "\r\n\r\n").encode(), *pieces])
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(request)
                await writer.drain()
                answer = await reader.read()  # to EOF: the server closes after answering
            finally:
                writer.close()
        if not answer.startswith(b"HTTP/1."):
            raise ConnectionResetError("connection closed without an answer")
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        return int(lines[0][9:12]), headers, body

    async def timed(self, scheduled, method, path, body=b"", headers=None):
        started = time.monotonic()
        try:
            status, answer_headers, answer = await self.send(method, path, body, headers)
        except (OSError, TimeoutError) as exc:
            failed = type(exc).__name__
            return Outcome(time.monotonic() - scheduled, None, b"", failed, started - scheduled,
                           scheduled)  # fmt: skip
        request_id = answer_headers.get("x-request-id")
        return Outcome(time.monotonic() - scheduled, status, answer, None, started - scheduled,
                       scheduled, request_id)  # fmt: skip


def multipart(fields, files):
    """(body, content type): form fields, then files as (field name, file name, bytes).
    The body is a list of pieces, which `Server.send` joins with the head."""
    boundary = f"load-{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    for name, filename, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
        )
        parts.append(data)
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return parts, f"multipart/form-data; boundary={boundary}"


def json_body(data):
    return json.dumps(data).encode(), {"Content-Type": "application/json"}


async def open_loop(rate, seconds, start_one, *, poisson=True, seed=1):
    """Start `start_one(scheduled)` at `rate` per second for `seconds`: exponential gaps
    (arrivals independent of each other, like phones) or, not poisson, even spacing.
    Returns the outcomes in order of starting."""
    rng = random.Random(seed)
    begin = time.monotonic() + 0.2
    offset, tasks = 0.0, []
    while True:
        offset += rng.expovariate(rate) if poisson else 1 / rate
        if offset >= seconds:
            break
        scheduled = begin + offset
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(start_one(scheduled)))
    return list(await asyncio.gather(*tasks))


async def closed_loop(items, concurrency, one):
    """`one(item, scheduled)` for every item, `concurrency` at a time (log-ins)."""
    queue = list(reversed(items))
    outcomes = []

    async def worker():
        while queue:
            item = queue.pop()
            outcomes.append((item, await one(item, time.monotonic())))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


@dataclass
class Stats:
    requests: int = 0
    seconds: float = 0.0  # first scheduled start to last answer
    latencies: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)  # status or error name -> count
    max_lag: float = 0.0

    @classmethod
    def of(cls, outcomes, seconds):
        stats = cls(len(outcomes), seconds, sorted(o.latency for o in outcomes))
        for o in outcomes:
            if o.status is None or not 200 <= o.status < 300:
                key = o.error or str(o.status)
                stats.errors[key] = stats.errors.get(key, 0) + 1
            stats.max_lag = max(stats.max_lag, o.lag)
        return stats

    def percentile(self, p):
        return percentile(self.latencies, p)

    @property
    def error_count(self):
        return sum(self.errors.values())

    def summary(self):
        n = self.requests
        return {
            "requests": n,
            "achieved_per_s": (n - self.error_count) / self.seconds if self.seconds else 0.0,
            "p50_ms": _ms(self.percentile(50)),
            "p95_ms": _ms(self.percentile(95)),
            "p99_ms": _ms(self.percentile(99)),
            "max_ms": _ms(self.latencies[-1] if self.latencies else None),
            "errors": self.error_count,
            "error_pct": 100 * self.error_count / n if n else 0.0,
            "error_kinds": dict(self.errors),
            "max_start_lag_ms": _ms(self.max_lag),
        }


def percentile(ordered, p):
    """Nearest rank in an ordered list; None for an empty one."""
    if not ordered:
        return None
    return ordered[max(1, -(-len(ordered) * p // 100)) - 1]


def _ms(seconds):
    return None if seconds is None else round(1000 * seconds, 1)
