"""Benchmark: the full ingest path against raw `psql \\copy`, XLSX against CSV, and memory against file size.

Runs against the embedded warehouse (or WAREHOUSE_URL), in a database of its own that it drops
afterwards. Per repeat: raw COPY of the plain file, the full path on the plain file and on the messy
one (`;`, Windows-1252, Dutch dates, CRLF), each in a fresh database; the medians count, the spread
is printed. The full path is one `ingest_object` in a child process: hash, ledger, sniff, parse,
validate, binary COPY, commit, archive. The connection and the schema are made before the clock
starts (psql's connect is in its figure, but it is milliseconds), and the local folder's stability
wait (intake.py: a second between two looks at the file) is left out: it is the same second for any
file, a matter of freshness (bench/freshness), not of parsing.

XLSX: workbooks of --xlsx-small and --xlsx rows with typed cells (bench/ingest/workbook.py), written
once under bench/out/. The two readers (python-calamine, openpyxl) read the small one to text in
this process; the full path loads the large one in a child, whose peak RSS is reported.

Last line: `ingest_ratio=<lower of plain and messy: full ÷ raw rows/s, medians> rss_ratio=<large peak ÷
small peak> rows_per_s_plain= rows_per_s_messy= xlsx_rows_per_s= xlsx_peak_mib= xlsx_reader_speedup=`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The police columns the rows fill (workbook.COLUMNS): contract version 1's, so that runs before and after a
# contract change (version 2 added the optional adres_pseudoniem) measure the same file.
from workbook import CODES, COLUMNS, DOELWIT, write_xlsx  # noqa: E402

from explosion_monitor import warehouse  # noqa: E402
from explosion_monitor.contracts import get_contract  # noqa: E402
from explosion_monitor.db.ready import recreate_database as fresh_db  # noqa: E402


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
import sys, time
from explosion_monitor.buckets import get_bucket
from explosion_monitor.ingest.load import ingest_object
from explosion_monitor.db.ready import connect_ready
with connect_ready() as conn:
    bucket = get_bucket("politie")
    (obj,) = bucket.list_incoming()
    start = time.perf_counter()
    out = ingest_object(conn, bucket, obj)
    elapsed = time.perf_counter() - start
assert out.status == "loaded", out
print(elapsed, out.rows)
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


def spread(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s (runs {', '.join(f'{t:.2f}' for t in times)})"


def read_xlsx(path: Path, reader: str) -> tuple[float, int]:
    """Seconds for one reader to turn the workbook into the loader's text columns, and the rows read."""
    from explosion_monitor.ingest import xlsx

    start = time.perf_counter()
    sheet = xlsx._calamine_sheet(path) if reader == "calamine" else xlsx._openpyxl_sheet(path)
    rows = sum(len(lines) for lines, _ in sheet.blocks(10_000))
    return time.perf_counter() - start, rows


def workbook(rows: int) -> Path:
    """The cached workbook of `rows` incidents (written once: a million rows take a few seconds)."""
    out = ROOT / "bench" / "out" / f"politie_{rows}.xlsx"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        write_xlsx(tmp, rows)
        tmp.rename(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=5_000_000)
    parser.add_argument("--xlsx", type=int, default=1_000_000, help="rows of the XLSX full path")
    parser.add_argument("--xlsx-small", type=int, default=100_000, help="rows of the reader comparison")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; medians count")
    args = parser.parse_args()
    admin = os.environ.get("WAREHOUSE_URL") or warehouse.admin_url()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=ROOT / ".data") as tmp:
        tmpdir = Path(tmp)
        os.chmod(tmpdir, 0o755)
        plain, messy = tmpdir / "politie_1m.csv", tmpdir / "politie_1m_nl.csv"
        write_csv(plain, args.rows)
        write_csv(messy, args.rows, dutch=True)
        # The machine is shared: raw and full path alternate, each in a fresh database, and medians
        # count, so that a neighbour's burst does not decide the ratio.
        raw_times, plain_times, messy_times = [], [], []
        for _ in range(args.repeat):
            url = fresh_db(admin, "bench_ingest")
            checkpoint(url)
            raw_times.append(raw_copy(url, plain))
            for path, times in ((plain, plain_times), (messy, messy_times)):
                url = fresh_db(admin, "bench_ingest")
                seconds, rows, _ = full_path(url, path, tmpdir / "b1")
                assert rows == args.rows
                times.append(seconds)
        raw_rps = args.rows / statistics.median(raw_times)
        plain_rps = args.rows / statistics.median(plain_times)
        messy_rps = args.rows / statistics.median(messy_times)
        ratios = [r / max(p, m) for r, p, m in zip(raw_times, plain_times, messy_times, strict=True)]
        print(f"raw psql \\copy: {args.rows} rows, {spread(raw_times)} = {raw_rps:,.0f} rows/s")
        print(f"full ingest:    {args.rows} rows, {spread(plain_times)} = {plain_rps:,.0f} rows/s")
        print(f"full ingest, ';' Windows-1252 Dutch dates: {spread(messy_times)} = {messy_rps:,.0f} rows/s")
        print(f"ratio per run (raw ÷ slower variant): {', '.join(f'{r:.2f}' for r in ratios)}")
        plain.unlink()
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

        small_book = workbook(args.xlsx_small)
        speed = {}
        for reader in ("calamine", "openpyxl"):
            seconds, rows = read_xlsx(small_book, reader)
            assert rows == args.xlsx_small, (reader, rows)
            speed[reader] = rows / seconds
            print(f"XLSX {args.xlsx_small} rows read by {reader}: {seconds:.2f} s = {speed[reader]:,.0f} rows/s")
        book = workbook(args.xlsx)
        xlsx_times, xlsx_peaks = [], []
        for _ in range(args.repeat):
            url = fresh_db(admin, "bench_ingest")
            seconds, rows, peak = full_path(url, book, tmpdir / "bx")
            assert rows == args.xlsx
            xlsx_times.append(seconds)
            xlsx_peaks.append(peak / 1024)
        xlsx_rps = args.xlsx / statistics.median(xlsx_times)
        print(
            f"full ingest, XLSX {args.xlsx} rows: {spread(xlsx_times)} = {xlsx_rps:,.0f} rows/s, "
            f"peak RSS {max(xlsx_peaks):.0f} MiB"
        )
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("drop database if exists bench_ingest with (force)")
    print(
        f"ingest_ratio={min(plain_rps, messy_rps) / raw_rps:.3f} rss_ratio={peaks[args.large] / peaks[args.small]:.3f} "
        f"rows_per_s_plain={plain_rps:.0f} rows_per_s_messy={messy_rps:.0f} xlsx_rows_per_s={xlsx_rps:.0f} "
        f"xlsx_peak_mib={max(xlsx_peaks):.0f} xlsx_reader_speedup={speed['calamine'] / speed['openpyxl']:.1f}"
    )


if __name__ == "__main__":
    main()
