"""Fault injection for the loader: a killable loader process, and a warehouse server of one's own.

`LoaderChild` runs `ingest_pending` in a child process that has imported everything and connected once
before the parent says "go", so a kill timed from "go" lands in the load, not in Python start-up. The
child reports what it is doing as `<monotonic time> <phase>` lines (CLOCK_MONOTONIC is shared by all
processes of the machine): thin wrappers around the loader's steps print a line and call through, so
the parent knows exactly where each kill landed. Told to `stop_at` a phase, the child stops itself
(SIGSTOP) right there and the parent kills it: a kill at a point too narrow to hit by chance.

`OwnWarehouse` starts a separate embedded PostgreSQL (own folder, free port) that a test may stop and
restart; the shared server on 54329 is used by concurrent test runs and must never be restarted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from explosion_monitor import warehouse
from explosion_monitor.config import Settings, get_settings

#: The loader's steps in order, as the child reports them. A kill after phase P and before the next one
#: "landed in P".
PHASES = (
    "go",  # ingest_pending called: connect, list incoming/
    "claim",  # taking the advisory lock
    "claimed",  # ledger row written (status claimed)
    "check",  # sniffing the file, checking its first batch (the COPY statement is open)
    "copy",  # first checked batch sent: checking and COPY run together until commit
    "committed",  # the transaction committed: rows and status 'loaded' are durable
    "moving",  # the move to archive/ (or quarantine/) started
    "copied",  # the file is in archive/ and still in incoming/ (the original is removed next)
    "moved",  # the move is done; the ledger does not know the final URL yet
    "recorded",  # final_url and finished_at are in the ledger
    "done",  # ingest_pending returned
)

CHILD = textwrap.dedent(
    r"""
    import dataclasses, os, signal, sys, time

    from explosion_monitor import ledger
    from explosion_monitor.buckets import LocalBucket, get_bucket
    from explosion_monitor.config import get_settings
    from explosion_monitor.ingest import load
    from explosion_monitor.ingest.pending import ingest_pending
    from explosion_monitor.db.ready import connect_ready

    stop_at = None

    def mark(phase):
        sys.stdout.write(f"{time.monotonic():.6f} {phase}\n")
        sys.stdout.flush()
        if phase == stop_at:
            os.kill(os.getpid(), signal.SIGSTOP)  # the parent kills us here

    def probe(owner, name, before=None, after=None):
        real = getattr(owner, name)

        def probed(*args, **kwargs):
            if before:
                mark(before)
            result = real(*args, **kwargs)
            if after:
                mark(after)
            return result

        setattr(owner, name, probed)

    # Probes only: each calls the real step unchanged.
    probe(ledger, "try_lock", before="claim")
    probe(ledger, "open_entry", after="claimed")
    probe(load, "_load", before="check", after="committed")
    probe(LocalBucket, "archive", before="moving", after="moved")
    probe(LocalBucket, "quarantine", before="moving", after="moved")
    probe(LocalBucket, "_delete_source", before="copied")
    probe(ledger, "set_final", after="recorded")
    real_pipeline = load._pipeline

    def pipeline(items):
        first = True
        for data in real_pipeline(items):
            if first:
                mark("copy")
                first = False
            yield data

    load._pipeline = pipeline

    print("ready", flush=True)
    url, buckets, stop = sys.stdin.readline().split()
    settings = dataclasses.replace(get_settings(), warehouse_url=url, buckets=buckets)
    connect_ready(settings).close()  # schema check and first connection out of the timed window
    get_bucket("politie", settings).ensure()
    print("armed", flush=True)
    sys.stdin.readline()
    stop_at = None if stop == "-" else stop
    mark("go")
    for o in ingest_pending(["politie"], settings=settings):
        print("outcome", o.name, o.status, o.rows, flush=True)
    mark("done")
    sys.stdin.readline()  # stay alive until killed or released
    """
)


class LoaderChild:
    """One loader process, started ahead of its round (imports take a while), armed, then let go."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.lines: list[str] = []
        self.go_at: float | None = None
        # A thread reads the child's lines: select() on a buffered pipe would miss lines already buffered.
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _readline(self, timeout: float) -> str:
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"the loader child said nothing for {timeout} s; so far: {self.lines}") from None
        if line is None:
            raise RuntimeError(f"the loader child ended (exit {self.proc.poll()}); so far: {self.lines}")
        self.lines.append(line)
        return line

    def _drain(self) -> None:
        """Everything the (ended) child wrote."""
        self._reader.join(10)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.lines.append(line)

    def _expect(self, word: str, timeout: float = 60) -> None:
        while self._readline(timeout).split()[-1] != word:
            pass

    def arm(self, url: str, buckets: str, stop_at: str | None = None) -> None:
        self._expect("ready")
        self.proc.stdin.write(f"{url} {buckets} {stop_at or '-'}\n")
        self.proc.stdin.flush()
        self._expect("armed")

    def go(self) -> float:
        self.go_at = time.monotonic()
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self.go_at

    def wait_for(self, phase: str, timeout: float = 60) -> None:
        self._expect(phase, timeout)

    def kill(self) -> float:
        at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._drain()
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        return at

    def finish(self) -> None:
        """Let an unkilled child end; raise if it failed."""
        self._expect("done", 120)
        self.proc.stdin.write("\n")
        self.proc.stdin.close()
        code = self.proc.wait(30)
        self._drain()
        if code != 0:
            raise RuntimeError(f"the loader child failed: {self.lines}")

    def marks(self) -> dict[str, float]:
        """Phase -> seconds after "go" (first time it was reached)."""
        found: dict[str, float] = {}
        for line in self.lines:
            stamp, _, phase = line.partition(" ")
            if phase in PHASES and self.go_at is not None:
                found.setdefault(phase, float(stamp) - self.go_at)
        return found

    def phase_at(self, at: float) -> str:
        """The last phase the child reached before `at` (a monotonic time); "before go" if none."""
        last = "before go"
        for line in self.lines:
            stamp, _, phase = line.partition(" ")
            if phase in PHASES and float(stamp) <= at:
                last = phase
        return last

    def outcomes(self) -> list[list[str]]:
        return [line.split()[1:] for line in self.lines if line.startswith("outcome ")]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()


def big_police_file(rows: int) -> bytes:
    head = "incident_id,peildatum,incident_datum,gemeente_code,doelwit,uitkomst,explosief,telt_mee\n"
    body = "".join(
        f"PL-{i},2025-01-15,2024-0{1 + i % 9}-1{i % 10},GM0599,woning,afgegaan,zwaar_vuurwerk,true\n"
        for i in range(rows)
    )
    return (head + body).encode()


class CopyTerminator(threading.Thread):
    """Cuts the loader's connection in the middle of its COPY into raw.<feed> of one database, once.

    It watches the server's COPY progress and calls pg_terminate_backend on the loading session as soon as
    `after_rows` rows have arrived: what an administrator, a failover or a network cut does to a loader.
    """

    def __init__(self, url: str, feed: str = "politie", after_rows: int = 50_000, timeout: float = 300) -> None:
        """`url`: the loader's database, as a user allowed to terminate the loader's session."""
        super().__init__(daemon=True)
        self.url, self.feed = url, feed
        self.after_rows, self.timeout = after_rows, timeout
        self.stop = threading.Event()
        self.terminated_pid: int | None = None
        self.rows_at_cut: int | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set() and time.monotonic() < deadline:
                row = conn.execute(
                    "select pid, tuples_processed from pg_stat_progress_copy where datname = current_database() "
                    "and relid = to_regclass(%s) and command = 'COPY FROM' and tuples_processed >= %s",
                    (f"raw.{self.feed}", self.after_rows),
                ).fetchone()
                if row and conn.execute("select pg_terminate_backend(%s)", (row[0],)).fetchone()[0]:
                    self.terminated_pid, self.rows_at_cut = row
                    return
                time.sleep(0.002)


def wait_for_dead_backends(conn: psycopg.Connection, timeout: float = 15) -> None:
    """Until no other session is connected to this database and no advisory lock is held in it.

    The server notices a killed client when its socket closes; it then rolls back the open transaction and
    frees the session's advisory locks (the claim).
    """
    deadline = time.monotonic() + timeout
    while True:
        others, locks = conn.execute(
            "select (select count(*) from pg_stat_activity where datname = current_database() "
            "        and backend_type = 'client backend' and pid <> pg_backend_pid()),"
            "       (select count(*) from pg_locks where locktype = 'advisory' "
            "        and database = (select oid from pg_database where datname = current_database()))"
        ).fetchone()
        if not others and not locks:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the dead loader's session is still there ({others} sessions, {locks} locks)")
        time.sleep(0.02)


# --- a warehouse server of one's own ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnWarehouse:
    """An embedded PostgreSQL in a folder of its own on a free port: start, restart, stop, remove.

    Its settings differ from the checkout's only in root (secrets, data folder) and port, and they are
    passed to warehouse.start/stop directly: the environment, and with it the shared server's settings and
    pgdata-location record, stay untouched.
    """

    def __init__(self) -> None:
        # Not under pytest's tmp_path: that lies in a 0700 folder, closed to the PostgreSQL user when root.
        self.base = Path(tempfile.mkdtemp(prefix="em-own-warehouse-"))
        self.base.chmod(0o755)
        self.settings: Settings = dataclasses.replace(
            get_settings(), root=self.base, warehouse_url=None, pgdata=None, pg_port=free_port()
        )
        self.url = ""

    def start(self) -> str:
        self.url = warehouse.start(self.settings)
        return self.url

    def pid(self) -> int:
        return warehouse.status(self.settings)["pid"]

    def restart(self) -> None:
        warehouse.stop(self.settings)
        self.start()

    def remove(self) -> None:
        with contextlib.suppress(warehouse.WarehouseError):
            warehouse.stop(self.settings)
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def own_warehouse() -> Iterator[OwnWarehouse]:
    server = OwnWarehouse()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default
