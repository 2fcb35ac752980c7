"""The dbt sources, generated from the partner contracts.

Each feed's `models/staging/<feed>/_<feed>__sources.yml` is written by `sources_yaml(feed)`,
so column names, types and descriptions live only in the contract YAML. The generated files
are committed; `tests/test_dbt.py` fails when one is out of date. Regenerate with

    python -m explosion_monitor.contracts.dbt
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from explosion_monitor.config import FEEDS, project_root
from explosion_monitor.contracts import Contract, get_contract


@dataclass(frozen=True)
class Freshness:
    warn_days: int
    error_days: int
    why: str


# How late a partner may be before `dbt source freshness` warns or errors, measured on `_loaded_at`
# (the moment the loader committed the newest file). The police deliver an extract every month;
# insurers, housing corporations and the municipalities' network deliver quarterly.
FRESHNESS: dict[str, Freshness] = {
    "politie": Freshness(
        35, 70, "monthly extracts: warn after 35 days without a load, error after 70 (two missed months)"
    ),
    "verzekeraars": Freshness(100, 200, "quarterly deliveries: warn after 100 days without a load, error after 200"),
    "corporaties": Freshness(100, 200, "quarterly deliveries: warn after 100 days without a load, error after 200"),
    "gemeenten": Freshness(100, 200, "quarterly deliveries: warn after 100 days without a load, error after 200"),
}

# The source table's name in dbt: what one row is, matching the staging model `stg_<feed>__<entity>`.
ENTITY: dict[str, str] = {
    "politie": "incidenten",
    "verzekeraars": "claims",
    "corporaties": "meldingen",
    "gemeenten": "maatregelen",
}

# Columns the loader adds to every raw table (see explosion_monitor.schema.raw_table_ddl).
LINEAGE: tuple[tuple[str, str, str], ...] = (
    ("_file_id", "bigint", "The delivered file this row came from (ops.ledger.file_id)."),
    ("_line_number", "integer", "Line of the row in the delivered file (the header is line 1)."),
    (
        "_arrived_at",
        "timestamp with time zone",
        "When the file arrived in the bucket; for the same peildatum the later-arrived file wins.",
    ),
    (
        "_loaded_at",
        "timestamp with time zone",
        "When the loader committed the row; source freshness is measured on it.",
    ),
)


def _column(contract: Contract, name: str) -> dict:
    col = contract.column(name)
    meta: dict[str, object] = {"contract_type": col.type, "required": col.required}
    if col.values:
        meta["values"] = list(col.values)
    if col.max_length is not None:
        meta["max_length"] = col.max_length
    if col.min is not None:
        meta["min"] = col.min
    return {"name": col.name, "description": col.description, "data_type": col.sql_type, "config": {"meta": meta}}


def source_dict(feed: str) -> dict:
    contract = get_contract(feed)
    fresh = FRESHNESS[feed]
    key = ", ".join(contract.key)
    table = {
        "name": ENTITY[feed],
        "identifier": feed,
        "description": (
            f"{contract.title}. {contract.description} Key: ({key}); the newest peildatum wins, and for the "
            "same peildatum the file that arrived later. Every delivered row of every accepted file is kept, "
            "with its lineage; the loader has validated each row against the contract."
        ),
        "config": {"meta": {"contract_key": list(contract.key), "event_date": contract.event_date}},
        "columns": [_column(contract, name) for name in contract.column_names]
        + [{"name": n, "description": d, "data_type": t} for n, t, d in LINEAGE],
    }
    return {
        "name": feed,
        "description": f"Raw deliveries of the partner feed `{feed}` (bucket `{feed}`), loaded by explosion_monitor.ingest. "
        f"Freshness: {fresh.why}.",
        "schema": "raw",
        "loader": "explosion_monitor.ingest",
        "config": {
            "loaded_at_field": "_loaded_at",
            "freshness": {
                "warn_after": {"count": fresh.warn_days, "period": "day"},
                "error_after": {"count": fresh.error_days, "period": "day"},
            },
        },
        "tables": [table],
    }


def sources_yaml(feed: str) -> str:
    """The text of `_<feed>__sources.yml`."""
    header = (
        f"# Generated from src/explosion_monitor/contracts/{feed}.yml by `python -m explosion_monitor.contracts.dbt`.\n"
        "# Do not edit: change the contract and regenerate.\n"
    )
    body = yaml.safe_dump(
        {"version": 2, "sources": [source_dict(feed)]}, sort_keys=False, allow_unicode=True, width=110
    )
    return header + body


def sources_path(feed: str, root: Path | None = None) -> Path:
    root = root or project_root()
    return root / "dbt_project" / "models" / "staging" / feed / f"_{feed}__sources.yml"


def stale_sources(root: Path | None = None) -> list[Path]:
    """The generated files that differ from what the contracts say now."""
    stale = []
    for feed in FEEDS:
        path = sources_path(feed, root)
        if not path.is_file() or path.read_text(encoding="utf-8") != sources_yaml(feed):
            stale.append(path)
    return stale


def write_sources(root: Path | None = None) -> list[Path]:
    """(Re)write every feed's sources file; returns the paths that changed."""
    changed = []
    for feed in FEEDS:
        path = sources_path(feed, root)
        text = sources_yaml(feed)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        stale = stale_sources()
        for path in stale:
            print(f"out of date: {path}")
        return 1 if stale else 0
    for path in write_sources():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
