"""CPU seconds from /proc: the gunicorn tree, PostgreSQL's backends for one database, the
load generator itself, and the whole machine (which shows the other jobs sharing it)."""

import os
from pathlib import Path

from sqlalchemy import text

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """(ppid, own CPU, reaped children's CPU) in seconds, or None once the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    ticks = [int(f) for f in fields[11:15]]
    return int(fields[1]), (ticks[0] + ticks[1]) / TICK, (ticks[2] + ticks[3]) / TICK


def children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(entry.name)) and stat[0] == pid:
            found.append(int(entry.name))
    return found


def tree_cpu(master):
    """The master, its live workers, and the workers it has reaped (their CPU moves into
    the master's children's time when it waits for them, so a recycled worker counts)."""
    stat = _stat(master)
    if stat is None:
        return None
    total = stat[1] + stat[2]
    for worker in children(master):
        if (worker_stat := _stat(worker)) is not None:
            total += worker_stat[1]
    return total


def backends(connection):
    """{pid: CPU seconds} of the PostgreSQL backends on this connection's database,
    this connection's own left out; {} on other databases or servers we cannot see."""
    if connection.dialect.name != "postgresql":
        return {}
    pids = connection.execute(
        text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
    ).scalars()
    cpu = {}
    for pid in pids:
        if (stat := _stat(pid)) is not None:
            cpu[pid] = stat[1]
    return cpu


def machine():
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


class Sample:
    def __init__(self, master, connection):
        self.gunicorn = tree_cpu(master)
        self.postgres = backends(connection)
        times = os.times()
        self.generator = times.user + times.system
        self.machine = machine()

    def since(self, before):
        """CPU seconds between two samples, and the machine's busy share in percent. A
        backend that ended between them (a recycled worker's connection) is not counted."""
        database = sum(cpu - before.postgres.get(pid, 0) for pid, cpu in self.postgres.items())
        busy = self.machine[0] - before.machine[0]
        total = self.machine[1] - before.machine[1]
        return {
            "gunicorn_cpu": _minus(self.gunicorn, before.gunicorn),
            "postgres_cpu": database if self.postgres or before.postgres else None,
            "generator_cpu": self.generator - before.generator,
            "machine_busy_pct": 100 * busy / total if total else None,
        }


def _minus(a, b):
    return None if a is None or b is None else a - b
