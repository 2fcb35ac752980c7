"""The running year in the mayors' report: status, forecast with its interval, the monthly allowance, in plain Dutch.

Reads the analysis run's `doel_prognose` and `doel_prognose_backtest` and the count's
`reconciliatie_per_definitie` from the published marts; the wording (`zin`) is what a mayor can repeat in the
council: it never claims more than the interval shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from explosion_monitor.reports.common import getal

STATUS_LABEL = {
    "op_koers": "Op koers",
    "risico": "Risico",
    "buiten_bereik": "Buiten bereik",
    "te_vroeg": "Te vroeg om te zeggen",
    "te_weinig_gegevens": "Te weinig gegevens",
}
DEFINITIE_LABEL = {
    "politie_incl_pogingen": "Politie: alle aanslagen, inclusief pogingen (het doel van het Offensief)",
    "alleen_afgegaan": "Alleen explosieven die afgingen",
    "excl_geldautomaat": "Zonder aanslagen op geldautomaten",
}


@dataclass
class LopendJaar:
    land: dict[str, Any] | None
    eenheden: list[dict[str, Any]] = field(default_factory=list)
    gemeenten: list[dict[str, Any]] = field(default_factory=list)
    backtest: list[dict[str, Any]] = field(default_factory=list)
    definities: list[dict[str, Any]] = field(default_factory=list)


def _getal(value: Any) -> str:
    return getal(value)


def per_maand(value: Decimal | float | None) -> str:
    """The monthly allowance, rounded down: a mayor may count on at most this many (115.67 -> '115')."""
    return "–" if value is None else getal(math.floor(float(value)))


def zin(r: dict[str, Any]) -> str:
    """One or two sentences a mayor can repeat in the council, for a row of doel_prognose."""
    naam, jaar, doel = r["naam"], r["jaar"], r["doel"]
    aangenomen = " (aangenomen doel)" if r.get("doel_aangenomen") else ""
    status = r["status"]
    if status == "te_vroeg":
        return f"Voor {jaar} is nog geen volledige maand geteld; een prognose volgt na de eerste maand."
    if status == "te_weinig_gegevens":
        return (
            f"{naam} had te weinig aanslagen in {jaar - 1} voor een betrouwbare prognose; "
            f"volg het aantal zelf: tot nu toe {_getal(r['aanslagen_tot_nu'])} in {jaar}."
        )
    if doel is None or r["verwacht_jaar"] is None:
        return f"Voor {naam} is er in {jaar} geen doel om tegen te meten."
    marge = f"tussen {_getal(r['verwacht_laag'])} en {_getal(r['verwacht_hoog'])}"
    if status == "op_koers":
        return (
            f"{naam} ligt op koers: we verwachten {_getal(r['verwacht_jaar'])} aanslagen in {jaar} ({marge}), "
            f"ook in het ongunstige geval niet meer dan het doel van {_getal(doel)}{aangenomen}."
        )
    if status == "buiten_bereik":
        al = (
            f" Het doel is met {_getal(r['aanslagen_tot_nu'])} aanslagen nu al overschreden."
            if r["nog_toegestaan"] is not None and r["nog_toegestaan"] < 0
            else ""
        )
        return (
            f"Het doel van {_getal(doel)} aanslagen{aangenomen} wordt in {jaar} vrijwel zeker niet gehaald: "
            f"zelfs in het gunstige geval verwachten we {_getal(r['verwacht_laag'])} aanslagen "
            f"(verwachting {_getal(r['verwacht_jaar'])}, {marge}).{al}"
        )
    ruimte = ""
    if r["nodig_per_maand"] is not None and r["nodig_per_maand"] >= 0:
        ruimte = (
            f" Het doel wordt gehaald als er de rest van het jaar niet meer dan "
            f"{per_maand(r['nodig_per_maand'])} aanslagen per maand bij komen."
        )
    return (
        f"Het doel van {_getal(doel)} aanslagen{aangenomen} is in {jaar} nog haalbaar, maar niet zeker: we "
        f"verwachten {_getal(r['verwacht_jaar'])} aanslagen, ergens {marge}.{ruimte}"
    )


def _rows(conn: psycopg.Connection, query: sql.Composable) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query).fetchall()


def read(conn: psycopg.Connection, schema: str, gemeenten: list[str]) -> LopendJaar | None:
    """The running year's rows of doel_prognose (country, police units, the given municipalities); None without it."""

    def exists(table: str) -> bool:
        return conn.execute("select to_regclass(%s) is not null", (f'"{schema}"."{table}"',)).fetchone()[0]

    out = LopendJaar(None)
    if exists("reconciliatie_per_definitie"):
        out.definities = _rows(
            conn,
            sql.SQL("select * from {} order by jaar, definitie, bron").format(
                sql.Identifier(schema, "reconciliatie_per_definitie")
            ),
        )
    if not exists("doel_prognose"):
        return out if out.definities else None
    dp = sql.Identifier(schema, "doel_prognose")
    lopend = _rows(conn, sql.SQL("select * from {} where is_lopend_jaar order by niveau, code").format(dp))
    out.land = next((r for r in lopend if r["niveau"] == "land"), None)
    out.eenheden = [r for r in lopend if r["niveau"] == "politie_eenheid"]
    out.gemeenten = [r for code in gemeenten for r in lopend if r["niveau"] == "gemeente" and r["code"] == code]
    if exists("doel_prognose_backtest"):
        out.backtest = _rows(
            conn,
            sql.SQL("select * from {} where niveau = 'land' order by jaar").format(
                sql.Identifier(schema, "doel_prognose_backtest")
            ),
        )
    return out


def running_year_sentence(conn: psycopg.Connection, schema: str) -> str | None:
    """The country's running year in one line for the console (`explosion-monitor run`); None without a forecast."""
    found = read(conn, schema, [])
    if not found or not found.land:
        return None
    r = found.land
    return f"{r['jaar']} (peildatum {r['peildatum']}): {STATUS_LABEL.get(r['status'], 'geen doel')}. {zin(r)}"
