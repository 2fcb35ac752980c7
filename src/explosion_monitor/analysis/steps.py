"""The registry of analysis steps. A new step is one module with a `run(conn, schema)` and one entry here.

A step reads the published `marts` (never `build`: statistics run on what passed the gate) and creates its
tables in `schema` (the analysis build schema), with a comment per table. It must be deterministic for the same
published data (seeded random numbers), so a rebuild from the archive gives the same rows. Its tables are
validated by the suites in `expectations/analysis/` and published into `marts` together with the other steps'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

# The analysis run's own table in marts: which publication of the count it analysed, and when.
STAMP_TABLE = "analyse_publicatie"


@dataclass(frozen=True)
class AnalysisStep:
    name: str
    #: The tables the step creates in the build schema; exactly these are published into `marts`.
    tables: tuple[str, ...]
    #: run(conn, schema): creates the tables in `schema`, reading the published `marts`.
    run: Callable[[psycopg.Connection, str], None]
    #: The published marts the step reads; without them it is skipped (first run on an empty warehouse).
    needs: tuple[str, ...] = ()


def _doel_prognose(conn: psycopg.Connection, schema: str) -> None:
    from explosion_monitor.analysis import prognose  # statsmodels is imported when the step runs

    prognose.run(conn, schema)


def _wat_werkt(conn: psycopg.Connection, schema: str) -> None:
    from explosion_monitor.analysis import wat_werkt  # pyfixest is imported when the step runs

    wat_werkt.run(conn, schema)


def _near_repeat(conn: psycopg.Connection, schema: str) -> None:
    from explosion_monitor.analysis import near_repeat

    near_repeat.run(conn, schema)


def _hotspots(conn: psycopg.Connection, schema: str) -> None:
    from explosion_monitor.analysis import hotspots

    hotspots.run(conn, schema)


def _nazorg_duur(conn: psycopg.Connection, schema: str) -> None:
    from explosion_monitor.analysis import nazorg_duur

    nazorg_duur.run(conn, schema)


STEPS: list[AnalysisStep] = [
    AnalysisStep(
        name="doel_prognose",
        tables=("doel_prognose", "doel_prognose_backtest"),
        run=_doel_prognose,
        needs=("doel_stand", "aanslagen_per_maand_historie"),
    ),
    AnalysisStep(
        name="wat_werkt",
        tables=("wat_werkt", "wat_werkt_voortrend"),
        run=_wat_werkt,
        needs=("maatregelen", "dim_postcode4", "dim_gemeenten", "fct_explosie_incidenten"),
    ),
    AnalysisStep(
        name="near_repeat",
        tables=("near_repeat", "verhoogd_risico"),
        run=_near_repeat,
        needs=("fct_explosie_incidenten", "dim_postcode4", "dim_gemeenten"),
    ),
    AnalysisStep(
        name="hotspots",
        tables=("hotspots_postcode4",),
        run=_hotspots,
        needs=("fct_explosie_incidenten", "dim_postcode4"),
    ),
    AnalysisStep(
        name="nazorg_duur",
        tables=("nazorg_duur",),
        run=_nazorg_duur,
        needs=("nazorg_meldingen",),
    ),
]


def analysis_tables(steps: list[AnalysisStep] | None = None) -> tuple[str, ...]:
    """Every table the analysis run publishes into `marts` (including its own stamp)."""
    return (*(t for step in (steps if steps is not None else STEPS) for t in step.tables), STAMP_TABLE)
