"""What works, for readers: the section *Wat werkt* of the mayors' report and the page for the VNG network.

Reads only published marts: `wat_werkt` (the estimate per soort, analysis run) and, for the network page,
`maatregelen` summed per municipality (never per postcode4) with `dim_gemeenten` for names. The wording never
claims more than the interval shows: an effect is called proven only when the whole interval lies on one side
of zero, and "not proven" is never written as "does not work".
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from explosion_monitor.reports.common import NothingPublished, environment, publication, write_atomically

NETWERK_NAME = "netwerk_wat_werkt.html"
NETWERK_TEMPLATE = "netwerk_wat_werkt.html.j2"
SOORTEN = {
    "cameratoezicht": "Cameratoezicht",
    "veiligheidsrisicogebied": "Veiligheidsrisicogebied",
    "gebiedsverbod": "Gebiedsverbod",
    "sluitingsbeleid": "Strenger sluitingsbeleid",
    "wijkaanpak": "Wijkaanpak",
    "weerbaarheid_ondernemers": "Weerbaarheid ondernemers",
    "jongerenaanpak": "Jongerenaanpak",
    "nazorgteam": "Nazorgteam",
    "overig": "Overige maatregelen",
}


def naam(soort: str) -> str:
    return SOORTEN.get(soort, soort.replace("_", " ").capitalize())


def _pct(x: Any) -> str:
    return f"{abs(float(x)):.0f}%".replace(".", ",")


def zin(r: dict[str, Any]) -> str:
    """One plain Dutch sentence per soort that says no more than the interval does."""
    n, voor, na = r["n_gebieden"], r["n_aanslagen_voor"], r["n_aanslagen_na"]
    basis = f"{n} gebied{'en' if n != 1 else ''}, {voor} aanslagen in het jaar ervoor en {na} in het jaar erna"
    if r["oordeel"] == "te_weinig_gegevens":
        return f"Te weinig gegevens om iets over het effect te zeggen ({basis}). Dit is geen oordeel over de maatregel."
    lo, hi, eff = float(r["ci_laag_pct"]), float(r["ci_hoog_pct"]), float(r["effect_pct"])
    marge = f"{'-' if lo < 0 else '+'}{_pct(lo)} tot {'-' if hi < 0 else '+'}{_pct(hi)}"
    if r["oordeel"] == "minder_aanslagen":
        tekst = (
            f"Na de start waren er minder aanslagen dan zonder de maatregel te verwachten was: naar schatting "
            f"{_pct(eff)} minder, en met 95% zekerheid tussen {_pct(hi)} en {_pct(lo)} minder ({basis})."
        )
        if r.get("kosten_per_voorkomen_eur") is not None:
            tekst += (
                f" Kosten per voorkomen aanslag: ongeveer € {float(r['kosten_per_voorkomen_eur']):,.0f} "
                f"(tussen € {float(r['kosten_per_voorkomen_laag_eur']):,.0f} en "
                f"€ {float(r['kosten_per_voorkomen_hoog_eur']):,.0f})."
            ).replace(",", ".")
        return tekst
    if r["oordeel"] == "meer_aanslagen":
        return (
            f"Na de start waren er meer aanslagen dan te verwachten was: naar schatting {_pct(eff)} meer, met 95% "
            f"zekerheid tussen {_pct(lo)} en {_pct(hi)} meer ({basis}). Dat kan ook betekenen dat de maatregel "
            "kwam waar het erger werd; het zegt niet dat de maatregel aanslagen veroorzaakt."
        )
    tekst = (
        f"Een effect is niet aangetoond: de cijfers passen bij alles tussen {marge} ({basis}). Dat is iets "
        "anders dan 'werkt niet': er is nog te weinig zekerheid."
    )
    if r["voortrend_p"] is not None and float(r["voortrend_p"]) < 0.05:
        tekst += (
            " Bovendien liepen de aanslagen in deze gebieden al vóór de start anders dan elders, dus een "
            "verschil erna is niet aan de maatregel toe te schrijven."
        )
    return tekst


def _rows(conn: psycopg.Connection, query: sql.Composable, params: tuple = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute(
        "select to_regclass(format('%%I.%%I', %s::text, %s::text)) is not null", (schema, table)
    ).fetchone()[0]


def read(conn: psycopg.Connection, schema: str) -> list[dict[str, Any]]:
    """marts.wat_werkt with a readable name and sentence per soort: estimated soorten first; [] if not published."""
    if not _exists(conn, schema, "wat_werkt"):
        return []
    rows = _rows(conn, sql.SQL("select * from {}.wat_werkt").format(sql.Identifier(schema)))
    for r in rows:
        r["naam"], r["zin"] = naam(r["soort"]), zin(r)
    return sorted(rows, key=lambda r: (r["effect_pct"] is None, r["naam"]))


def chart(rows: list[dict[str, Any]], path: Path) -> bool:
    """Effect and 95% interval per estimated soort (a dot and a line; zero marked); False when nothing to draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = [r for r in rows if r["effect_pct"] is not None]
    if not shown:
        return False
    fig = Figure(figsize=(7.5, 0.7 + 0.55 * len(shown)), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for i, r in enumerate(reversed(shown)):
        lo, eff, hi = float(r["ci_laag_pct"]), float(r["effect_pct"]), float(r["ci_hoog_pct"])
        kleur = {"minder_aanslagen": "#1a7f37", "meer_aanslagen": "#c0392b"}.get(r["oordeel"], "#6b7280")
        ax.plot([max(lo, -100), min(hi, 300)], [i, i], color=kleur, linewidth=3, solid_capstyle="butt")
        ax.plot([eff], [i], "o", color=kleur, markersize=7)
    ax.axvline(0, color="#111827", linewidth=1)
    ax.set_yticks(range(len(shown)), [r["naam"] for r in reversed(shown)])
    ax.set_xlabel("verandering in aanslagen door de maatregel (%), met 95%-interval (afgekapt op +300%)")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    return True


def netwerk(conn: psycopg.Connection, schema: str) -> list[dict[str, Any]]:
    """Per soort: the municipalities that use it with their before/after totals (summed over their areas) and the
    pooled estimate. Municipality totals only: no postcode4 leaves this function."""
    ident = sql.Identifier(schema)
    rows = _rows(
        conn,
        sql.SQL(
            "select m.soort, m.gemeente_code, g.gemeente_naam, count(distinct m.maatregel_id) as maatregelen, "
            "min(m.start_datum) as eerste_start, bool_and(m.eind_datum is null or m.eind_datum >= current_date) as loopt, "
            "sum(m.aanslagen_12m_voor) as voor, sum(m.aanslagen_12m_na) as na, bool_and(m.nameting_compleet) as compleet, "
            "bool_or(m.postcode4 is null) as hele_gemeente "
            "from {}.maatregelen as m left join {}.dim_gemeenten as g on g.gemeente_code = m.gemeente_code "
            "group by 1, 2, 3 order by 1, 3"
        ).format(ident, ident),
    )
    schattingen = {r["soort"]: r for r in read(conn, schema)}
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        per[r["soort"]].append(r)
    return [
        {"soort": s, "naam": naam(s), "gemeenten": gs, "schatting": schattingen.get(s)}
        for s, gs in sorted(per.items(), key=lambda kv: naam(kv[0]))
    ]


def write_netwerk(
    settings: Any = None, url: str | None = None, schema: str = "marts", out_dir: Path | None = None
) -> Path:
    """Write <reports_dir>/netwerk_wat_werkt.html for the VNG network; NothingPublished without the marts."""
    from explosion_monitor.config import get_settings
    from explosion_monitor.db.ready import connect_to

    settings = settings or get_settings()
    out_dir = Path(out_dir or settings.reports_dir)
    with connect_to(settings, url) as conn:
        if not _exists(conn, schema, "maatregelen"):
            raise NothingPublished("No measures are published yet: run `explosion-monitor run` first.")
        soorten = netwerk(conn, schema)
        pub = publication(conn, schema)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = environment().get_template(NETWERK_TEMPLATE).render(soorten=soorten, publicatie=pub)
    path = out_dir / NETWERK_NAME
    write_atomically(path, html)
    return path
