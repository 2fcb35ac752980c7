"""What mayors read: progress on the Offensief's target.

`write_report` writes reports/target_progress.html with its charts as PNG files in reports/img/, from the published
marts only (schema `marts`; tests point `schema` at a schema they fill). The page opens offline: no scripts, no
stylesheets or fonts from elsewhere. Charts are drawn with matplotlib's Agg canvas (no pyplot, no global state) and
saved without metadata, so the same marts give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from rich.table import Table

from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db.ready import connect_to
from explosion_monitor.permissions import PRIVATE_FILE, PRIVATE_FOLDER
from explosion_monitor.reports import lopend_jaar, wat_werkt
from explosion_monitor.reports.common import (
    MAANDEN,
    MAANDNAMEN,
    NothingPublished,
    Publicatie,
    environment,
    fetch_rows,
    getal,
    has_table,
    publication,
    table_ref,
    write_atomically,
)

log = logging.getLogger(__name__)

REPORT_NAME = "target_progress.html"
IMG_DIR = "img"
TEMPLATE = "target_progress.html.j2"
# Every mart the report reads; without the first two there is nothing to report.
REQUIRED_MARTS = ("target_progress", "target_progress_maandelijks")
OPTIONAL_MARTS = (
    "schade_en_woningimpact_per_gemeente", "nazorg_per_gemeente", "reconciliatie_landelijk",
    "target_progress_historie", "koppelingskwaliteit",
)  # fmt: skip
TOP_GEMEENTEN = 10
GROEPEN = {"G4": "G4", "G40": "G40", "overig": "Overige gemeenten"}
# Colours: one per year (oldest light, the target year dark), the target in red.
JAAR_KLEUREN = ("#9ecae1", "#4292c6", "#08306b")
DOEL_KLEUR = "#c0392b"


# --- the console table `explosion-monitor run` prints ---------------------------------------------


def national_progress(conn: psycopg.Connection, schema: str) -> list[dict]:
    """The country's rows of target_progress, oldest year first."""
    query = sql.SQL(
        "select jaar, aanslagen, aanslagen_vorig_jaar, verandering_pct, doel, doel_gehaald, doel_aangenomen, "
        "jaar_compleet, peildatum "
        "from {}.target_progress where niveau = 'land' order by jaar"
    ).format(sql.Identifier(schema))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query).fetchall()


def _pct(value: Decimal | float | None) -> str:
    return "" if value is None else f"{float(value):+.1f}%"


def progress_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for col in ("jaar", "aanslagen", "vorig jaar", "verandering", "doel (max.)", "doel gehaald"):
        table.add_column(col, justify="right")
    for r in rows:
        reached = {True: "ja", False: "nee", None: ""}[r["doel_gehaald"]]
        if r.get("jaar_compleet") is False and r["doel"] is not None:
            reached = "loopt nog"  # the running year: see the forecast (doel_prognose)
        table.add_row(
            str(r["jaar"]),
            f"{r['aanslagen']:,}".replace(",", "."),
            "" if r["aanslagen_vorig_jaar"] is None else f"{r['aanslagen_vorig_jaar']:,}".replace(",", "."),
            _pct(r["verandering_pct"]),
            ""
            if r["doel"] is None
            else f"{r['doel']:,}".replace(",", ".") + (" (aangenomen)" if r.get("doel_aangenomen") else ""),
            reached,
        )
    return table


# --- Dutch formatting ------------------------------------------------------------------------------


# --- reading the marts -----------------------------------------------------------------------------


def data_docs_link(settings: Settings, report_dir: Path) -> str | None:
    """A relative link to the Great Expectations Data Docs index, when the quality gate is installed and has one."""
    try:
        from explosion_monitor import quality

        index = quality.data_docs_index(settings)
    except Exception as exc:
        log.debug("No Data Docs link: %s", exc)
        return None
    if not index or not Path(index).is_file():
        return None
    return Path(os.path.relpath(Path(index).resolve(), report_dir.resolve())).as_posix()


@dataclass
class Cijfers:
    """Everything the report shows, read from the marts."""

    doeljaar: int
    jaren: list[int]  # the years of the national charts: the target year and the two before
    land: list[dict[str, Any]]
    maanden: list[dict[str, Any]]
    gemeenten: list[dict[str, Any]]
    groepen: list[dict[str, Any]]
    eenheden: list[dict[str, Any]]
    impact: list[dict[str, Any]]
    impact_top: list[dict[str, Any]]
    nazorg: dict[str, Any] | None
    reconciliatie: list[dict[str, Any]]
    historie: list[dict[str, Any]]
    koppelingen: list[dict[str, Any]]
    lopend: Any = None  # lopend_jaar.LopendJaar: the running year's forecast (analysis run), when published
    #: marts.wat_werkt with a name and a sentence per soort (reports.wat_werkt); empty until the analysis published it
    wat_werkt: list[dict[str, Any]] = field(default_factory=list)

    @property
    def peildatum(self) -> dt.date | None:
        return max((r["peildatum"] for r in self.land if r["peildatum"]), default=None)

    def land_jaar(self, jaar: int) -> dict[str, Any] | None:
        return next((r for r in self.land if r["jaar"] == jaar), None)


def read_figures(conn: psycopg.Connection, schema: str) -> Cijfers:
    """Read the published marts in `schema`; raises NothingPublished when they are not there."""
    if not all(has_table(conn, schema, t) for t in REQUIRED_MARTS):
        raise NothingPublished("Nothing is published yet: run `explosion-monitor run` first.")
    tp, tpm = table_ref(schema, "target_progress"), table_ref(schema, "target_progress_maandelijks")
    land = fetch_rows(conn, sql.SQL("select * from {} where niveau = 'land' order by jaar").format(tp))
    if not land:
        raise NothingPublished("Nothing is published yet: run `explosion-monitor run` first.")
    met_doel = [r["jaar"] for r in land if r["doel"] is not None]
    doeljaar = max(met_doel) if met_doel else max(r["jaar"] for r in land)
    jaren = [j for j in (doeljaar - 2, doeljaar - 1, doeljaar) if any(r["jaar"] == j for r in land)]
    maanden = fetch_rows(
        conn,
        sql.SQL(
            "select jaar, maand, aanslagen, aanslagen_cumulatief, maand_compleet from {} "
            "where niveau = 'land' and jaar = any(%s) order by jaar, maand"
        ).format(tpm),
        (jaren,),
    )
    gemeenten = fetch_rows(
        conn,
        sql.SQL(
            "select code, naam, aanslagen, aanslagen_vorig_jaar, verandering_pct, doel, doel_gehaald, doel_aangenomen, "
            "aanslagen_per_100k from {} where niveau = 'gemeente' and jaar = %s and aanslagen > 0 "
            "order by aanslagen desc, code limit %s"
        ).format(tp),
        (doeljaar, TOP_GEMEENTEN),
    )
    groepen = fetch_rows(
        conn,
        sql.SQL(
            "select code, naam, jaar, aanslagen, doel, doel_gehaald, verandering_pct, aanslagen_per_100k "
            "from {} where niveau in ('g4', 'g40', 'overig') and jaar = any(%s) order by code, jaar"
        ).format(tp),
        (jaren,),
    )
    eenheden = fetch_rows(
        conn,
        sql.SQL(
            "select code, naam, aanslagen, aanslagen_vorig_jaar, verandering_pct, doel, doel_gehaald, doel_aangenomen, "
            "aanslagen_per_100k from {} where niveau = 'politie_eenheid' and jaar = %s order by code"
        ).format(tp),
        (doeljaar,),
    )
    impact, impact_top, nazorg = _impact(conn, schema, jaren, doeljaar)
    reconciliatie = (
        fetch_rows(conn, sql.SQL("select * from {} order by jaar").format(table_ref(schema, "reconciliatie_landelijk")))
        if has_table(conn, schema, "reconciliatie_landelijk") else []
    )  # fmt: skip
    historie = (
        fetch_rows(
            conn,
            sql.SQL("select peildatum, jaar, aanslagen from {} where jaar = any(%s) order by peildatum, jaar").format(
                table_ref(schema, "target_progress_historie")
            ),
            ([doeljaar - 1, doeljaar],),
        )
        if has_table(conn, schema, "target_progress_historie") else []
    )  # fmt: skip
    koppelingen = (
        fetch_rows(conn, sql.SQL("select * from {} order by bron, koppeling, reden").format(
            table_ref(schema, "koppelingskwaliteit")))
        if has_table(conn, schema, "koppelingskwaliteit") else []
    )  # fmt: skip

    lopend = lopend_jaar.read(conn, schema, [r["code"] for r in gemeenten])
    return Cijfers(doeljaar, jaren, land, maanden, gemeenten, groepen, eenheden, impact, impact_top, nazorg,
                   reconciliatie, historie, koppelingen, lopend)  # fmt: skip


def _impact(
    conn: psycopg.Connection, schema: str, jaren: list[int], doeljaar: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    impact: list[dict[str, Any]] = []
    top: list[dict[str, Any]] = []
    nazorg = None
    if has_table(conn, schema, "schade_en_woningimpact_per_gemeente"):
        t = table_ref(schema, "schade_en_woningimpact_per_gemeente")
        impact = fetch_rows(
            conn,
            sql.SQL(
                "select jaar, sum(claims) as claims, sum(schade_geraamd_eur) as schade_geraamd_eur, "
                "sum(uitgekeerd_eur) as uitgekeerd_eur, sum(claims_tijdelijke_huisvesting) as tijdelijke_huisvesting, "
                "sum(woningmeldingen) as woningmeldingen, sum(woningen_beschadigd) as woningen_beschadigd, "
                "sum(woningen_onbewoonbaar) as woningen_onbewoonbaar, "
                "sum(huishoudens_ontheemd) as huishoudens_ontheemd, "
                "sum(sluitingen) as sluitingen from {} where jaar = any(%s) group by jaar "
                "having sum(claims) > 0 or sum(woningmeldingen) > 0 order by jaar"
            ).format(t),
            (jaren,),
        )
        top = fetch_rows(
            conn,
            sql.SQL(
                "select gemeente_naam, claims, schade_geraamd_eur, woningen_beschadigd, woningen_onbewoonbaar, "
                "huishoudens_ontheemd from {} where jaar = %s and (claims > 0 or woningmeldingen > 0) "
                "order by schade_geraamd_eur desc, woningen_beschadigd desc, gemeente_code limit 5"
            ).format(t),
            (doeljaar,),
        )
    if has_table(conn, schema, "nazorg_per_gemeente"):
        nazorg = fetch_rows(
            conn,
            sql.SQL(
                "select sum(woningmeldingen) as woningmeldingen, sum(woningmeldingen_met_nazorg) as met_nazorg "
                "from {} where gemeente_code = 'NL'"
            ).format(table_ref(schema, "nazorg_per_gemeente")),
        )[0]
    return impact, top, nazorg


# --- charts ----------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: getal(v)))


def _legend_below(ax: Any) -> None:
    ax.legend(frameon=False, fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


def _save_month_chart(fig: Any, ax: Any, path: Path, ylabel: str, title: str) -> None:
    """January to December along the x axis, counts from 0, the house style and the legend below; saved."""
    ax.set_xticks(range(1, 13), MAANDEN)
    ax.set_xlim(0.5, 12.5)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _style(ax)
    _legend_below(ax)
    _save(fig, path)


def _chart_national_monthly(c: Cijfers, path: Path) -> None:
    fig = _figure(9, 5.0)
    ax = fig.add_subplot()
    for kleur, jaar in zip(JAAR_KLEUREN[-len(c.jaren) :], c.jaren, strict=False):
        rows = [r for r in c.maanden if r["jaar"] == jaar]
        ax.plot([r["maand"] for r in rows], [r["aanslagen"] for r in rows], marker="o", color=kleur,
                linewidth=2.4 if jaar == c.doeljaar else 1.6, label=str(jaar))  # fmt: skip
        open_ = [r for r in rows if not r["maand_compleet"]]
        if open_:
            ax.plot([r["maand"] for r in open_], [r["aanslagen"] for r in open_], marker="o", linestyle="none",
                    markerfacecolor="white", color=kleur, label=f"{jaar}: maand nog niet compleet")  # fmt: skip
    doel = (c.land_jaar(c.doeljaar) or {}).get("doel")
    if doel is not None:
        ax.axhline(
            doel / 12,
            color=DOEL_KLEUR,
            linestyle="--",
            linewidth=1.8,
            label=f"Doel {c.doeljaar}: gemiddeld max. {getal(doel / 12, 1)} per maand ({getal(doel)} ÷ 12)",
        )
    _save_month_chart(fig, ax, path, "Aanslagen per maand", "Aanslagen met explosieven per maand, heel Nederland")


def _chart_national_cumulative(c: Cijfers, path: Path) -> None:
    fig = _figure(9, 5.0)
    ax = fig.add_subplot()
    for kleur, jaar in zip(JAAR_KLEUREN[-len(c.jaren) :], c.jaren, strict=False):
        rows = [r for r in c.maanden if r["jaar"] == jaar]
        ax.plot([r["maand"] for r in rows], [r["aanslagen_cumulatief"] for r in rows], marker="o", color=kleur,
                linewidth=2.4 if jaar == c.doeljaar else 1.6, label=f"{jaar} (cumulatief)")  # fmt: skip
    doel = (c.land_jaar(c.doeljaar) or {}).get("doel")
    if doel is not None:
        ax.plot(
            [0, 12],
            [0, doel],
            color=DOEL_KLEUR,
            linestyle="--",
            linewidth=1.8,
            label=f"Doel {c.doeljaar} naar rato: max. {getal(doel)} aan het eind van het jaar",
        )
    _save_month_chart(fig, ax, path, "Aanslagen sinds 1 januari", "Cumulatief aantal aanslagen tegen het doel")


def _chart_bars_two_years(
    names: list[str], vorig: list[int], nu: list[int], doel: list[int | None], jaar: int, title: str, path: Path
) -> None:
    """Horizontal bars, previous year and this year per unit, with the unit's target as a red tick."""
    import numpy as np

    fig = _figure(9, 0.9 + 0.42 * max(len(names), 3))
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    ax.barh(y + 0.2, vorig, height=0.4, color=JAAR_KLEUREN[1], label=str(jaar - 1))
    ax.barh(y - 0.2, nu, height=0.4, color=JAAR_KLEUREN[2], label=str(jaar))
    punten = [(d, yy) for d, yy in zip(doel, y, strict=False) if d is not None]
    if punten:
        ax.scatter([d for d, _ in punten], [yy - 0.2 for _, yy in punten], marker="|", s=260, linewidths=2.2,
                   color=DOEL_KLEUR, label=f"doel {jaar} (max.)", zorder=3)  # fmt: skip
    ax.set_yticks(y, names)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: getal(v)))
    ax.set_xlabel("Aanslagen")
    ax.legend(frameon=False, fontsize=8.5, loc="lower right")
    _save(fig, path)


def _chart_groups(c: Cijfers, path: Path) -> None:
    import numpy as np

    fig = _figure(9, 4.2)
    ax = fig.add_subplot()
    codes = [code for code in GROEPEN if any(r["code"] == code for r in c.groepen)]
    x = np.arange(len(codes))
    width = 0.8 / max(len(c.jaren), 1)
    for i, (kleur, jaar) in enumerate(zip(JAAR_KLEUREN[-len(c.jaren) :], c.jaren, strict=False)):
        values = [next((r["aanslagen"] for r in c.groepen if r["code"] == code and r["jaar"] == jaar), 0)
                  for code in codes]  # fmt: skip
        ax.bar(x + (i - (len(c.jaren) - 1) / 2) * width, values, width=width, color=kleur, label=str(jaar))
    doelen = [next((r["doel"] for r in c.groepen if r["code"] == code and r["jaar"] == c.doeljaar), None)
              for code in codes]  # fmt: skip
    last = (len(c.jaren) - 1) / 2 * width
    for xi, d in zip(x, doelen, strict=False):
        if d is not None:
            ax.hlines(d, xi + last - width / 2, xi + last + width / 2, color=DOEL_KLEUR, linewidth=2.4)
    ax.plot([], [], color=DOEL_KLEUR, linewidth=2.4, label=f"doel {c.doeljaar} (max.)")
    ax.set_xticks(x, [GROEPEN[code] for code in codes])
    ax.set_ylabel("Aanslagen per jaar")
    ax.set_title("G4, G40 en overige gemeenten")
    _style(ax)
    ax.legend(frameon=False, fontsize=8.5)
    _save(fig, path)


def _chart_impact(c: Cijfers, path: Path) -> None:
    import numpy as np

    fig = _figure(9, 4.2)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    jaren = [r["jaar"] for r in c.impact]
    x = np.arange(len(jaren))
    left.bar(x - 0.2, [float(r["schade_geraamd_eur"]) / 1e6 for r in c.impact], width=0.4, color=JAAR_KLEUREN[2],
             label="geraamde schade")  # fmt: skip
    left.bar(x + 0.2, [float(r["uitgekeerd_eur"]) / 1e6 for r in c.impact], width=0.4, color=JAAR_KLEUREN[0],
             label="uitgekeerd")  # fmt: skip
    left.set_xticks(x, [str(j) for j in jaren])
    left.set_ylabel("Miljoen euro")
    left.set_title("Verzekerde schade (opzet)")
    series = (("woningen_beschadigd", "woningen beschadigd", JAAR_KLEUREN[2]),
              ("woningen_onbewoonbaar", "onbewoonbaar", "#e67e22"),
              ("huishoudens_ontheemd", "huishoudens ontheemd", DOEL_KLEUR))  # fmt: skip
    for i, (key, label, kleur) in enumerate(series):
        right.bar(x + (i - 1) * 0.27, [r[key] for r in c.impact], width=0.27, color=kleur, label=label)
    right.set_xticks(x, [str(j) for j in jaren])
    right.set_title("Sociale huurwoningen (corporaties)")
    from matplotlib.ticker import FuncFormatter

    for ax in (left, right):
        _style(ax)
        ax.legend(frameon=False, fontsize=8, loc="upper left")
        ax.set_ylim(top=ax.get_ylim()[1] * 1.2)
    left.yaxis.set_major_formatter(FuncFormatter(lambda v, _: getal(v, 1)))
    _save(fig, path)


@dataclass(frozen=True)
class Grafiek:
    bestand: str
    titel: str
    alt: str


def draw_charts(c: Cijfers, img_dir: Path) -> list[Grafiek]:
    """Every chart as a PNG in img_dir; returns them in the order of the report."""
    img_dir.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    charts: list[Grafiek] = []

    def add(name: str, titel: str, alt: str, draw: Any, *args: Any) -> None:
        draw(*args, img_dir / name)
        os.chmod(img_dir / name, PRIVATE_FILE)  # private like the page (README, section Security)
        charts.append(Grafiek(f"{IMG_DIR}/{name}", titel, alt))

    add("landelijk_per_maand.png", "Per maand", f"Aanslagen per maand in {', '.join(map(str, c.jaren))} met het "
        f"maandgemiddelde dat het doel voor {c.doeljaar} toestaat", _chart_national_monthly, c)  # fmt: skip
    add("landelijk_cumulatief.png", "Cumulatief", f"Cumulatief aantal aanslagen per jaar tegen het doel voor "
        f"{c.doeljaar} naar rato", _chart_national_cumulative, c)  # fmt: skip
    if c.gemeenten:
        add("top_gemeenten.png", "Gemeenten met de meeste aanslagen",
            f"De {len(c.gemeenten)} gemeenten met de meeste aanslagen in {c.doeljaar}, met {c.doeljaar - 1}",
            _chart_bars_two_years, [r["naam"] for r in c.gemeenten],
            [r["aanslagen_vorig_jaar"] or 0 for r in c.gemeenten], [r["aanslagen"] for r in c.gemeenten],
            [r["doel"] for r in c.gemeenten], c.doeljaar,
            f"Gemeenten met de meeste aanslagen in {c.doeljaar}")  # fmt: skip
    if c.groepen:
        add("g4_g40_overig.png", "G4, G40 en overige gemeenten",
            f"Aanslagen per jaar in de G4, de G40 en de overige gemeenten, met het doel voor {c.doeljaar}",
            _chart_groups, c)  # fmt: skip
    if c.eenheden:
        add("politie_eenheden.png", "Politie-eenheden",
            f"Aanslagen per politie-eenheid in {c.doeljaar - 1} en {c.doeljaar}, met het doel per eenheid",
            _chart_bars_two_years, [r["naam"] for r in c.eenheden],
            [r["aanslagen_vorig_jaar"] or 0 for r in c.eenheden], [r["aanslagen"] for r in c.eenheden],
            [r["doel"] for r in c.eenheden], c.doeljaar, "Aanslagen per politie-eenheid")  # fmt: skip
    if c.impact:
        add("schade_en_woningen.png", "Schade en woningen",
            "Geraamde en uitgekeerde verzekerde schade en de gevolgen voor sociale huurwoningen per jaar",
            _chart_impact, c)  # fmt: skip
    if any(r["effect_pct"] is not None for r in c.wat_werkt):
        add("wat_werkt.png", "Effect per soort maatregel: schatting (punt) en 95%-interval (lijn)",
            "Geschatte verandering in aanslagen per soort maatregel met het 95%-interval; links van nul is minder",
            wat_werkt.chart, c.wat_werkt)  # fmt: skip
    return charts


# --- the page ----------------------------------------------------------------------------------------


def render_html(c: Cijfers, charts: list[Grafiek], pub: Publicatie | None, data_docs: str | None) -> str:

    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            zin=lopend_jaar.zin,
            per_maand=lopend_jaar.per_maand,
            status_label=lopend_jaar.STATUS_LABEL,
            definitie_label=lopend_jaar.DEFINITIE_LABEL,
            c=c,
            nu=c.land_jaar(c.doeljaar),
            vorig=c.land_jaar(c.doeljaar - 1),
            grafieken={g.bestand.rsplit("/", 1)[-1].removesuffix(".png"): g for g in charts},
            publicatie=pub,
            data_docs=data_docs,
            maanden=MAANDEN,
            maandnamen=MAANDNAMEN,
            groepen=GROEPEN,
        )
    )


def write_report(
    settings: Settings | None = None,
    url: str | None = None,
    schema: str = "marts",
    *,
    out_dir: Path | None = None,
) -> Path:
    """Write <reports_dir>/target_progress.html and its charts in img/ from the marts in `schema`; returns the path.

    Raises NothingPublished when `schema` holds no published target_progress.
    """
    settings = settings or get_settings()
    out_dir = Path(out_dir or settings.reports_dir)
    with connect_to(settings, url) as conn:
        figures = read_figures(conn, schema)
        pub = publication(conn, schema)

        figures.wat_werkt = wat_werkt.read(conn, schema)
    out_dir.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    charts = draw_charts(figures, out_dir / IMG_DIR)
    html = render_html(figures, charts, pub, data_docs_link(settings, out_dir))
    path = out_dir / REPORT_NAME
    write_atomically(path, html)
    return path
