"""Benchmark: the month-end burst. 300 drops from the four feeds within 60 s, through Airflow standalone.

About 40 insurers, 280 housing corporations, the police and the municipalities' network can all deliver on the
same morning. Airflow standalone runs as in bench/freshness (bench/common.py: own databases, buckets, home and
ports). After one warm-up drop (the first, full build), --drops files are dropped spread over --within seconds,
in the proportions of a real month end (police 2, municipalities 8, insurers 40, corporations 250 of 300). Each
file is made from a valid file of the sample generator (explosion_monitor.sample): a different slice of its
rows, with identifiers unique to the drop, so every drop has its own name and content.

Asserted after the burst, so a fast figure can never hide a lost or doubled drop:
- the ledger has exactly one row per dropped file, loaded, and no other row;
- raw.<feed> holds exactly the rows of each file (per file id) and nothing more;
- every file is in the published window (marts.publicatie.tot_en_met_file_id), and the published police count
  for the year grew by exactly the counted incidents the police drops carried.

Last line: `burst_s=<first drop -> last drop's rows published> builds=<warehouse builds during the burst>
max_wait_s=<longest drop -> its rows published> p50_wait_s=... drops=... files_loaded=...`.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/common.py

from common import (
    airflow_env,
    drop_databases,
    free_port,
    healthy,
    percentile,
    prepare_warehouse,
    start_standalone,
    stop,
    wait_for,
    watchers_running,
)

from explosion_monitor.config import FEEDS

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "burst"
BENCH_DB = "em_bench_burst"
AIRFLOW_DB = "airflow_bench_burst"
#: Of 300 drops on a month-end morning.
MIX = {"politie": 2, "gemeenten": 8, "verzekeraars": 40, "corporaties": 250}
#: The sample files the drops are cut from (valid CSV deliveries of each feed).
TEMPLATES = {
    "politie": "incidenten_2025_tm_juli.csv",
    "verzekeraars": "claims_explosies_2025-10-01.csv",
    "corporaties": "aedes_explosiemeldingen_2025-03.csv",
    "gemeenten": "Maatregelen explosies juni 2025.csv",
}
WARM_UP = "politie_extract_2025-01-15.csv"
#: The identifier made unique per drop (the feed's key, with the partner code where there is one).
ID_COLUMN = {
    "politie": "incident_id",
    "verzekeraars": "claim_id",
    "corporaties": "melding_id",
    "gemeenten": "maatregel_id",
}
YEAR = 2025
TRUE = {"ja", "j", "true", "1", "waar", "y", "yes"}


class Template:
    """A sample file as header + rows, written back in its own encoding, delimiter and `sep=` line."""

    def __init__(self, data: bytes) -> None:
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        self.encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self.bom = data.startswith(b"\xef\xbb\xbf")
        lines = text.splitlines()
        self.sep_line = lines[0] if lines[0].lower().startswith("sep=") else None
        body = lines[1:] if self.sep_line else lines
        self.delimiter = ";" if body[0].count(";") > body[0].count(",") else ","
        rows = list(csv.reader(body, delimiter=self.delimiter))
        self.header, self.rows = rows[0], [r for r in rows[1:] if r]
        self.names = [h.strip().lower() for h in self.header]

    def column(self, name: str) -> int:
        return self.names.index(name)

    def render(self, rows: list[list[str]]) -> bytes:
        out = io.StringIO()
        if self.sep_line:
            out.write(self.sep_line + "\r\n")
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\r\n")
        writer.writerow(self.header)
        writer.writerows(rows)
        data = out.getvalue().encode(self.encoding)
        return (b"\xef\xbb\xbf" + data) if self.bom else data


def counted(template: Template, row: list[str]) -> bool:
    """A police row the target metric counts in YEAR (telt_mee, not withdrawn, incident in YEAR)."""
    names = template.names
    telt = row[names.index("telt_mee")].strip().lower() in TRUE
    withdrawn = "ingetrokken" in names and row[names.index("ingetrokken")].strip().lower() in TRUE
    datum = row[names.index("incident_datum")].strip()
    year = datum[:4] if datum[4:5] == "-" else datum[-4:]
    return telt and not withdrawn and year == str(YEAR)


def make_drops(total: int, seed: int = 2025) -> tuple[list[tuple[str, str, bytes, int, int]], bytes]:
    """(feed, name, bytes, rows, counted police incidents) per drop, in drop order; and the warm-up file."""
    from explosion_monitor.sample import generate

    samples = {f.name: f for f in generate(seed)}
    templates = {feed: Template(samples[name].data) for feed, name in TEMPLATES.items()}
    rng = random.Random(seed)
    scale = total / sum(MIX.values())
    counts = {feed: max(1, round(n * scale)) for feed, n in MIX.items()}
    counts["corporaties"] += total - sum(counts.values())
    order = [feed for feed, n in counts.items() for _ in range(n)]
    rng.shuffle(order)
    drops = []
    for i, feed in enumerate(order):
        t = templates[feed]
        pool = t.rows
        size = min(len(pool), rng.randint(5, 60) if feed != "politie" else 200)
        start = rng.randrange(0, max(1, len(pool) - size))
        idx = t.column(ID_COLUMN[feed])
        rows = []
        for row in pool[start : start + size]:
            row = list(row)
            row[idx] = f"B{i:03d}-{row[idx].strip()}"[:40]  # unique per drop: a new claim, report, measure
            rows.append(row)
        n_counted = sum(counted(t, r) for r in rows) if feed == "politie" else 0
        name = {
            "politie": f"politie_extract_{YEAR}-12-31_{i:03d}.csv",
            "verzekeraars": f"VV{i:04d}_explosieschade_{YEAR}-12.csv",
            "corporaties": f"L{i:04d}_meldingen_{YEAR}-12.csv",
            "gemeenten": f"GM{i:04d} maatregelen december {YEAR}.csv",
        }[feed]
        drops.append((feed, name, t.render(rows), len(rows), n_counted))
    return drops, samples[WARM_UP].data


def published(url: str) -> tuple[int, int, float] | None:
    """(police count in YEAR, newest published file id, publication time) of the current publication."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            row = conn.execute(
                "select (select aanslagen from marts.target_progress where niveau = 'land' and jaar = %s), "
                "p.tot_en_met_file_id, extract(epoch from p.gepubliceerd_op) from marts.publicatie p",
                (YEAR,),
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return (int(row[0] or 0), int(row[1]), float(row[2])) if row else None


def check(
    target: str,
    drops: list[tuple[str, str, bytes, int, int]],
    dropped_at: dict[str, float],
    before: tuple[int, int, float],
    after: tuple[int, int, float],
) -> dict[str, int]:
    """The no-loss, no-double-count assertions (see the module docstring); raises AssertionError."""
    names = {name: (feed, rows) for feed, name, _, rows, _ in drops}
    with psycopg.connect(target, autocommit=True) as conn:
        ledger = conn.execute(
            "select file_id, feed, object_key, status, rows_loaded from ops.ledger where file_id > %s",
            (before[1],),
        ).fetchall()
        raw: dict[int, int] = {}
        for feed in FEEDS:
            raw.update(
                dict(
                    conn.execute(
                        f"select _file_id, count(*) from raw.{feed} where _file_id > %s group by _file_id", (before[1],)
                    ).fetchall()
                )
            )
    by_name: dict[str, list] = {}
    for file_id, feed, key, status, rows in ledger:
        by_name.setdefault(key.rsplit("/", 1)[-1], []).append((file_id, feed, status, rows))
    missing = sorted(set(names) - set(by_name))
    extra = sorted(set(by_name) - set(names))
    doubled = sorted(n for n, v in by_name.items() if len(v) > 1)
    assert not missing, f"{len(missing)} drops have no ledger row: {missing[:5]}"
    assert not extra, f"ledger rows for files that were not dropped: {extra[:5]}"
    assert not doubled, f"drops with more than one ledger row: {doubled[:5]}"
    for name, [(file_id, feed, status, rows)] in by_name.items():
        assert status == "loaded", f"{name}: {status}"
        assert feed == names[name][0], f"{name}: ledger feed {feed}"
        assert rows == names[name][1] == raw.get(file_id, 0), (
            f"{name}: {names[name][1]} rows in the file, {rows} in the ledger, {raw.get(file_id, 0)} in raw"
        )
    assert set(raw) <= {v[0][0] for v in by_name.values()}, "raw rows of a file the ledger does not list"
    newest = max(v[0][0] for v in by_name.values())
    assert after[1] >= newest, f"published up to file {after[1]}, the burst's newest file is {newest}"
    expected = before[0] + sum(d[4] for d in drops)
    assert after[0] == expected, f"published police count {after[0]}, expected {expected}"
    return {"files": len(by_name), "rows": sum(raw.values())}


def publications(meta: str) -> list[tuple[float, float, set[str] | None]]:
    """(dbt task start, publish task end, feeds built or None for all) of every published warehouse run.

    From the metadata DB: the task instances' times and the dbt task's XCom (its build plan).
    """
    with psycopg.connect(meta, autocommit=True) as conn:
        rows = conn.execute(
            """
            select extract(epoch from b.start_date), extract(epoch from p.end_date), x.value -> 'plan'
            from task_instance p
            join task_instance b on b.dag_id = p.dag_id and b.run_id = p.run_id and b.task_id = 'dbt_build'
            join dag_run r on r.dag_id = p.dag_id and r.run_id = p.run_id
            left join xcom x on x.dag_run_id = r.id and x.task_id = 'dbt_build' and x.key = 'return_value'
            where p.dag_id = 'warehouse' and p.task_id = 'publish' and p.state = 'success'
            order by p.end_date
            """
        ).fetchall()
    out = []
    for start, end, plan in rows:
        feeds = set(plan.get("feeds") or ()) if plan and plan.get("select") else None
        out.append((float(start), float(end), feeds))
    return out


def loaded_at(target: str, after_file_id: int) -> dict[str, tuple[str, int, float]]:
    """{file name: (feed, file id, ledger finished)} of the files loaded after `after_file_id`."""
    with psycopg.connect(target, autocommit=True) as conn:
        rows = conn.execute(
            "select object_key, feed, file_id, extract(epoch from finished_at) from ops.ledger "
            "where file_id > %s and finished_at is not null",
            (after_file_id,),
        ).fetchall()
    return {key.rsplit("/", 1)[-1]: (feed, file_id, float(done)) for key, feed, file_id, done in rows}


def published_at(
    files: dict[str, tuple[str, int, float]], pubs: list[tuple[float, float, set[str] | None]]
) -> dict[str, float]:
    """When each file's rows were first published: the first publication whose dbt build started after the file
    was loaded and built the file's feed."""
    out = {}
    for name, (feed, _, done) in files.items():
        when = next((end for start, end, feeds in pubs if start >= done and (feeds is None or feed in feeds)), None)
        if when is not None:
            out[name] = when
    return out


def builds_between(meta: str, since: float, until: float) -> list[tuple]:
    with psycopg.connect(meta, autocommit=True) as conn:
        return conn.execute(
            "select run_id, state, extract(epoch from start_date), extract(epoch from end_date) from dag_run "
            "where dag_id = 'warehouse' and queued_at >= to_timestamp(%s) and queued_at <= to_timestamp(%s) "
            "order by queued_at",
            (since, until),
        ).fetchall()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", type=int, default=300)
    parser.add_argument("--within", type=float, default=60.0, help="seconds over which the drops arrive")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before giving up")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases and folders")
    args = parser.parse_args()

    drops, warm_up = make_drops(args.drops)
    admin, target, meta, buckets, settings = prepare_warehouse(OUT, BENCH_DB, AIRFLOW_DB)

    from explosion_monitor.buckets import get_bucket

    bucket = {feed: get_bucket(feed, settings) for feed in FEEDS}
    for b in bucket.values():
        b.ensure()

    port = free_port()
    env = airflow_env(admin, AIRFLOW_DB, OUT / "airflow", target, buckets, port)
    log_path = OUT / "standalone.log"
    proc = start_standalone(env, log_path)
    dropped_at: dict[str, float] = {}
    try:
        started = time.monotonic()
        wait_for("airflow standalone to be healthy", lambda: proc.poll() is None and healthy(port), 240, 2)
        dags = [f"ingest_{feed}" for feed in FEEDS] + ["warehouse"]
        wait_for("the watchers to run in the triggerer", lambda: watchers_running(meta, dags), 240, 2)
        print(f"Airflow standalone ready in {time.monotonic() - started:.0f} s (log: {log_path})", flush=True)

        bucket["politie"].put_incoming(WARM_UP, warm_up)
        before = wait_for("the warm-up drop to be published", lambda: published(target), args.timeout, 0.5)
        wait_for("the warm-up runs to finish", lambda: not _busy(meta), 300, 1)
        print(f"warm-up published: {before[0]} incidents in {YEAR}, through file {before[1]}", flush=True)

        first = time.time()
        gap = args.within / max(1, len(drops) - 1)
        for n, (feed, name, data, _rows, _counted) in enumerate(drops):
            pause = first + n * gap - time.time()
            if pause > 0:
                time.sleep(pause)
            dropped_at[name] = time.time()
            bucket[feed].put_incoming(name, data)
        last_drop = time.time()
        print(f"{len(drops)} drops in {last_drop - first:.1f} s", flush=True)

        state: dict[str, dict] = {"files": {}, "published": {}}

        def all_published() -> bool:
            state["files"] = loaded_at(target, before[1])
            state["published"] = published_at(state["files"], publications(meta))
            return len(state["published"]) >= len(drops)

        wait_for("every drop to be published", all_published, args.timeout, 1.0)
        wait_for("the runs to finish", lambda: not _busy(meta), 300, 1)
        after = published(target)
        totals = check(target, drops, dropped_at, before, after)
        waits = [state["published"][name] - at for name, at in dropped_at.items()]
        burst_s = max(state["published"].values()) - first
        builds = builds_between(meta, first, time.time())
    finally:
        stop(proc)
        if not args.keep:
            drop_databases(admin, (BENCH_DB, AIRFLOW_DB))

    for run_id, state, start, end in builds:
        print(f"  warehouse {run_id}: {state}, +{float(start) - first:.1f}s .. +{float(end) - first:.1f}s")
    print(
        f"{len(drops)} drops ({', '.join(f'{f} {sum(d[0] == f for d in drops)}' for f in FEEDS)}), "
        f"{totals['files']} files loaded once each, {totals['rows']} rows in raw"
    )
    print(
        f"burst_s={burst_s:.1f} builds={len(builds)} max_wait_s={max(waits):.1f} "
        f"p50_wait_s={statistics.median(waits):.1f} p95_wait_s={percentile(waits, 0.95):.1f} "
        f"drops={len(drops)} files_loaded={totals['files']}"
    )
    return 0


def _busy(meta: str) -> bool:
    with psycopg.connect(meta, autocommit=True) as conn:
        return bool(
            conn.execute(
                "select count(*) from dag_run where state in ('queued', 'running') and dag_id <> 'analysis'"
            ).fetchone()[0]
        )


if __name__ == "__main__":
    sys.exit(main())
