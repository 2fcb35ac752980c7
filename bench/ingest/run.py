"""Benchmark: the full ingest path against raw `psql \\copy`, and memory against file size.

Runs against the embedded warehouse (or WAREHOUSE_URL), in a database of its own that it
drops afterwards. Raw COPY and full path run --repeat times each, alternating, and the fastest
run of each counts. Last line: `ingest_ratio=<full ÷ raw rows/s> rss_ratio=<5M peak ÷ 100k peak>`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from explosion_monitor import warehouse  # noqa: E402
from explosion_monitor.contracts import get_contract  # noqa: E402
from explosion_monitor.db.ready import recreate_database as fresh_db  # noqa: E402

CODES = ["GM0363", "GM0599", "GM0518", "GM0344", "GM0034", "GM0796", "GM0014", "GM0080"]
DOELWIT = ["woning", "bedrijf", "voertuig", "geldautomaat", "overig"]
# The police columns the rows below fill: contract version 1's, so that runs before and after a contract
# change (version 2 added the optional adres_pseudoniem) measure the same file.
COLUMNS = (
    "incident_id",
    "peildatum",
    "incident_datum",
    "gemeente_code",
    "postcode4",
    "doelwit",
    "uitkomst",
    "explosief",
    "telt_mee",
    "gewonden",
    "doden",
    "ingetrokken",
)


def write_csv(path: Path, rows: int, seed: int = 1, dutch: bool = False) -> None:
    """A police extract. Plain: `,`, UTF-8, ISO dates, true/false, which raw COPY can also read.
    Dutch: `;`, Windows-1252, Dutch dates, ja/nee, CRLF."""
    rng = random.Random(seed)
    cols = COLUMNS
    d, nl = (";", "\r\n") if dutch else (",", "\n")
    yes, no = ("ja", "nee") if dutch else ("true", "false")
    with open(path, "w", encoding="cp1252" if dutch else "utf-8", newline="") as fh:
        fh.write(d.join(cols) + nl)
        for i in range(rows):
            day, month = rng.randint(1, 28), rng.randint(1, 12)
            date = f"{day:02d}-{month:02d}-2024" if dutch else f"2024-{month:02d}-{day:02d}"
            peil = "15-01-2025" if dutch else "2025-01-15"
            fh.write(
                f"PL-{i:08d}{d}{peil}{d}{date}{d}{rng.choice(CODES)}{d}{rng.randint(1000, 9999)}{d}"
                f"{rng.choice(DOELWIT)}{d}afgegaan{d}zwaar_vuurwerk{d}{yes}{d}{rng.randint(0, 2)}{d}{d}{no}{nl}"
            )


def raw_copy(url: str, path: Path) -> float:
    """psql \\copy into a typed table with the contract's columns and no indexes."""
    contract = get_contract("politie")
    cols = ", ".join(f"{name} {contract.column(name).sql_type}" for name in COLUMNS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop table if exists bench_raw_copy")
        conn.execute(f"create table bench_raw_copy ({cols})")
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    psql = warehouse.pg_bin() / "psql"
    env = {
        **os.environ,
        "PGHOST": parts.hostname,
        "PGPORT": str(parts.port),
        "PGUSER": parts.username,
        "PGPASSWORD": parts.password or "",
        "PGDATABASE": parts.path.strip("/"),
    }
    start = time.perf_counter()
    subprocess.run(
        [
            str(psql),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            f"\\copy bench_raw_copy from '{path}' with (format csv, header true)",
        ],
        check=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    # Dropped at once: autovacuum would otherwise process its million rows during the next measurement.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop table bench_raw_copy")
    return seconds


CHILD = """
import sys, time, resource
from explosion_monitor.ingest.pending import ingest_pending
start = time.perf_counter()
out = ingest_pending(["politie"])
elapsed = time.perf_counter() - start
assert [o.status for o in out] == ["loaded"], out
print(elapsed, out[0].rows)
"""


def checkpoint(url: str) -> None:
    """Write out dirty buffers, so that each measured load starts from the same clean server state."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("checkpoint")


def full_path(url: str, path: Path, buckets: Path) -> tuple[float, int, int]:
    """The real ingest in a child process: (seconds, rows, peak RSS of that process tree in KiB).

    The file is copied into incoming/ as a partner's upload arrives: one name, so the archive
    step moves it (a file with other names, such as a hard link, would be copied instead).
    """
    incoming = buckets / "politie" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, incoming / path.name)
    checkpoint(url)
    env = {**os.environ, "WAREHOUSE_URL": url, "EXPLOSION_MONITOR_BUCKETS": buckets.as_uri()}
    proc = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read()
    shutil.rmtree(buckets)  # the archived file: disk is not free
    if status != 0:
        raise SystemExit(f"ingest child failed: {out}")
    seconds, rows = out.split()
    return float(seconds), int(rows), usage.ru_maxrss


def best(times: list[float]) -> str:
    return f"{min(times):.2f} s (of {', '.join(f'{t:.2f}' for t in times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of raw and full path each; the fastest counts")
    args = parser.parse_args()
    admin = os.environ.get("WAREHOUSE_URL") or warehouse.admin_url()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=ROOT / ".data") as tmp:
        tmpdir = Path(tmp)
        os.chmod(tmpdir, 0o755)
        big = tmpdir / "politie_1m.csv"
        write_csv(big, args.rows)
        # The machine is shared: raw and full path alternate, each in a fresh database, and for
        # both the fastest run counts, so that a neighbour's burst does not decide the ratio.
        raw_times, full_times = [], []
        for _ in range(args.repeat):
            url = fresh_db(admin, "bench_ingest")
            checkpoint(url)
            raw_times.append(raw_copy(url, big))
            url = fresh_db(admin, "bench_ingest")
            seconds, rows, _ = full_path(url, big, tmpdir / "b1")
            assert rows == args.rows
            full_times.append(seconds)
        raw_rps, full_rps = args.rows / min(raw_times), args.rows / min(full_times)
        print(f"raw psql \\copy: {args.rows} rows in {best(raw_times)} = {raw_rps:,.0f} rows/s")
        print(f"full ingest:    {args.rows} rows in {best(full_times)} = {full_rps:,.0f} rows/s")
        big.unlink()
        messy = tmpdir / "politie_1m_nl.csv"
        write_csv(messy, args.rows, dutch=True)
        nl_times = []
        for _ in range(args.repeat):
            url = fresh_db(admin, "bench_ingest")
            nl_times.append(full_path(url, messy, tmpdir / "b2")[0])
        print(f"full ingest, ';' Windows-1252 Dutch dates: {best(nl_times)} = {args.rows / min(nl_times):,.0f} rows/s")
        messy.unlink()

        peaks = {}
        for n in (args.small, args.large):
            f = tmpdir / f"politie_{n}.csv"
            write_csv(f, n, seed=n)
            url = fresh_db(admin, "bench_ingest")
            seconds, rows, peak = full_path(url, f, tmpdir / f"b{n}")
            assert rows == n
            peaks[n] = peak
            print(f"{n:>9} rows: {seconds:.1f} s, peak RSS {peak / 1024:.0f} MiB")
            f.unlink()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("drop database if exists bench_ingest with (force)")
    print(f"ingest_ratio={full_rps / raw_rps:.3f} rss_ratio={peaks[args.large] / peaks[args.small]:.3f}")


if __name__ == "__main__":
    main()
