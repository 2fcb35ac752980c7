"""A page per local triangle: reports/gemeenten/<GMxxxx>.html, from the published marts only.

What the mayor, the police and the public prosecutor of one municipality need at neighbourhood level: the count
against the target and the neighbouring municipalities, the month series, the postcode4 areas (table and chart),
hotspots, areas inside a near-repeat risk window now, repeat addresses as counts, aftercare, and the municipality's
measures (from `marts.maatregelen` when the measures work has published it).

The page is *vertrouwelijk* (for the triangle): small numbers stay visible, but it names no person and no address,
holds no address pseudonym, and shows no other municipality's neighbourhoods (only other municipalities' totals).
Offline: one HTML file with inline SVG charts, no scripts and nothing fetched from elsewhere.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db.ready import connect_to
from explosion_monitor.reports.common import (
    MAANDEN,
    NothingPublished,
    datum,
    environment,
    getal,
    procent,
    write_atomically,
)

SUBDIR = "gemeenten"
TEMPLATE = "gemeente.html.j2"
BUREN = 5
TOP_POSTCODES = 15
MAATREGELEN = "maatregelen"
WAT_WERKT = "../target_progress.html#wat-werkt"


class UnknownMunicipality(ValueError):
    """The code is not a municipality of today."""


def _rows(conn: psycopg.Connection, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("select to_regclass(format('marts.%%I', %s::text)) is not null", (table,)).fetchone()[0]


@dataclass
class Pagina:
    code: str
    naam: str
    eenheid: str
    peildatum: dt.date | None
    doeljaar: int
    telling: dict[str, Any] | None
    buren: list[dict[str, Any]]
    maanden: list[dict[str, Any]]
    postcodes: list[dict[str, Any]]
    postcode_onbekend: int
    hotspots: list[dict[str, Any]]
    risico: list[dict[str, Any]]
    near_repeat_eenheid: list[dict[str, Any]]
    herhaling: list[dict[str, Any]]
    herhaling_365: dict[int, dict[str, Any]]
    tussentijd: dict[str, Any] | None
    nazorg: list[dict[str, Any]]
    nazorg_duur: dict[tuple[str, int], dict[str, Any]]
    maatregelen: list[dict[str, Any]] | None
    maatregel_kolommen: list[str] = field(default_factory=list)
    ontbreekt: list[str] = field(default_factory=list)


def _optional(
    conn: psycopg.Connection, table: str, missing: list[str], query: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    if not _exists(conn, table):
        missing.append(table)
        return []
    return _rows(conn, query, params)


# Columns of marts.maatregelen that are shown: never a name, address or free text.
_MAATREGEL_VERBODEN = ("naam", "adres", "toelichting", "omschrijving", "pseudoniem", "opmerking", "contact")


def read_page(conn: psycopg.Connection, code: str) -> Pagina:
    gem = _rows(
        conn,
        "select gemeente_code, gemeente_naam, politie_eenheid from marts.dim_gemeenten where gemeente_code = %s",
        (code,),
    )
    if not gem:
        raise UnknownMunicipality(f"{code} is not a municipality of today (marts.dim_gemeenten).")
    naam, eenheid = gem[0]["gemeente_naam"], gem[0]["politie_eenheid"]
    peildatum = conn.execute("select max(peildatum) from marts.publicatie").fetchone()[0]
    doeljaar = peildatum.year if peildatum else dt.date.today().year
    missing: list[str] = []
    telling = _rows(
        conn,
        "select * from marts.target_progress where niveau = 'gemeente' and code = %s and jaar = %s",
        (code, doeljaar),
    )
    # neighbours: the municipalities whose postcode4 centroids lie nearest to this one's (mean centroid)
    buren = _optional(
        conn,
        "dim_postcode4",
        missing,
        """
        with c as (
            select gemeente_code, avg(lat) as lat, avg(lon) as lon from marts.dim_postcode4 group by gemeente_code
        ), eigen as (select lat, lon from c where gemeente_code = %(code)s)
        select t.code, t.naam, t.aanslagen, t.aanslagen_vorig_jaar, t.doel, t.aanslagen_per_100k,
               round(cast(111.2 * sqrt(power(c.lat - e.lat, 2) + power((c.lon - e.lon) * cos(radians(e.lat)), 2))
                          as numeric), 1) as afstand_km
        from c cross join eigen as e
        join marts.target_progress as t on t.niveau = 'gemeente' and t.code = c.gemeente_code and t.jaar = %(jaar)s
        where c.gemeente_code <> %(code)s
        order by afstand_km, t.code
        limit %(n)s
        """,
        {"code": code, "jaar": doeljaar, "n": BUREN},
    )
    maanden = _rows(
        conn,
        """
        select jaar, maand, aanslagen, maand_compleet from marts.target_progress_maandelijks
        where niveau = 'gemeente' and code = %s and jaar >= %s order by jaar, maand
        """,
        (code, doeljaar - 1),
    )
    postcodes = _optional(
        conn,
        "aanslagen_per_postcode4",
        missing,
        """
        select postcode4, bool_and(is_postcode4_bekend) as bekend,
               sum(aanslagen) filter (where extract(year from maand) = %(jaar)s) as dit_jaar,
               sum(aanslagen) filter (where extract(year from maand) = %(jaar)s - 1) as vorig_jaar,
               sum(aanslagen) as totaal,
               sum(aanslagen) filter (where doelwit = 'woning') as woning
        from marts.aanslagen_per_postcode4 where gemeente_code = %(code)s
        group by postcode4 order by totaal desc, postcode4
        """,
        {"code": code, "jaar": doeljaar},
    )
    onbekend = sum(int(p["totaal"]) for p in postcodes if p["postcode4"] is None)
    postcodes = [p for p in postcodes if p["postcode4"] is not None]
    hotspots = _optional(
        conn,
        "hotspots_postcode4",
        missing,
        """
        select postcode4, categorie, jaren_hot, jaren, z_laatste_jaar, trend_tau, trend_p, aanslagen_totaal,
               aanslagen_laatste_jaar
        from marts.hotspots_postcode4 where gemeente_code = %s
        order by case categorie when 'persistent' then 1 when 'opkomend' then 2 when 'sporadisch' then 3 else 4 end,
                 z_laatste_jaar desc, postcode4
        """,
        (code,),
    )
    risico = _optional(
        conn,
        "verhoogd_risico",
        missing,
        """
        select postcode4, laatste_aanslag, venster_eind, venster_dagen, straal_km, aanslagen_in_venster
        from marts.verhoogd_risico where gemeente_code = %s order by venster_eind desc, postcode4
        """,
        (code,),
    )
    near = _optional(
        conn,
        "near_repeat",
        missing,
        """
        select afstandsband, tijdband_nr, dagen_van, dagen_tot, paren_waargenomen, paren_verwacht, knox_ratio, p_bh,
               is_significant
        from marts.near_repeat where politie_eenheid = %s order by afstandsband_nr, tijdband_nr
        """,
        (eenheid,),
    )
    herhaling = _optional(
        conn,
        "herhaling_per_gemeente",
        missing,
        "select * from marts.herhaling_per_gemeente where gemeente_code = %s order by jaar",
        (code,),
    )
    herhaling_365 = _optional(
        conn,
        "herhaling_365_dagen",
        missing,
        "select * from marts.herhaling_365_dagen where gemeente_code = %s order by jaar",
        (code,),
    )
    tussentijd = None
    if _exists(conn, "herhaling_adressen"):
        tussentijd = _rows(
            conn,
            """
            select count(*) as herhalingen,
                   percentile_cont(0.5) within group (order by dagen_sinds_vorige) as mediaan,
                   min(dagen_sinds_vorige) as kortste, max(dagen_sinds_vorige) as langste
            from marts.herhaling_adressen where gemeente_code = %s and dagen_sinds_vorige is not null
            """,
            (code,),
        )[0]
    else:
        missing.append("herhaling_adressen")
    nazorg = _optional(
        conn,
        "nazorg_per_gemeente",
        missing,
        "select * from marts.nazorg_per_gemeente where gemeente_code in (%s, 'NL') order by jaar",
        (code,),
    )
    duur = {
        (r["gemeente_code"], r["jaar"]): r
        for r in _optional(
            conn, "nazorg_duur", missing, "select * from marts.nazorg_duur where gemeente_code in (%s, 'NL')", (code,)
        )
    }
    maatregelen: list[dict[str, Any]] | None = None
    kolommen: list[str] = []
    if _exists(conn, MAATREGELEN):
        cols = [
            r[0]
            for r in conn.execute(
                "select attname from pg_attribute where attrelid = 'marts.maatregelen'::regclass and attnum > 0 "
                "and not attisdropped order by attnum"
            ).fetchall()
        ]
        if "gemeente_code" in cols:
            kolommen = [c for c in cols if c != "gemeente_code" and not any(v in c for v in _MAATREGEL_VERBODEN)]
            maatregelen = (
                _rows(
                    conn,
                    sql.SQL("select {} from marts.maatregelen where gemeente_code = %s")
                    .format(sql.SQL(", ").join(map(sql.Identifier, kolommen)))
                    .as_string(conn),
                    (code,),
                )
                if kolommen
                else []
            )
    return Pagina(
        code,
        naam,
        eenheid,
        peildatum,
        doeljaar,
        telling[0] if telling else None,
        buren,
        maanden,
        postcodes,
        onbekend,
        hotspots,
        risico,
        near,
        herhaling,
        {r["jaar"]: r for r in herhaling_365},
        tussentijd,
        [n for n in nazorg if n["gemeente_code"] == code],
        duur,
        maatregelen,
        kolommen,
        missing,
    )


# --- inline SVG ------------------------------------------------------------------------------------


def svg_bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    width: int = 640,
    height: int = 220,
    colour: str = "#4292c6",
    title: str = "",
) -> str:
    """A vertical bar chart as inline SVG (labels and values escaped; no script)."""
    n = max(len(values), 1)
    top = max([float(v) for v in values] + [1.0])
    left, bottom, gap = 36, 36, 2
    bw = (width - left - 8) / n
    scale = (height - bottom - 16) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{html.escape(title)}</title>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" y2="{height - bottom}" stroke="#999"/>',
    ]
    step = max(1, math.ceil(top / 4))
    for tick in range(0, int(top) + 1, step):
        y = height - bottom - tick * scale
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{tick}</text>')
    for k, (label, value) in enumerate(zip(labels, values, strict=False)):
        h = float(value) * scale
        x = left + k * bw
        parts.append(
            f'<rect x="{x + gap / 2:.1f}" y="{height - bottom - h:.1f}" width="{max(bw - gap, 1):.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{html.escape(str(label))}: {getal(value)}</title></rect>'
        )
        if n <= 30 or k % math.ceil(n / 24) == 0:
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{height - bottom + 12}" font-size="9" text-anchor="middle" '
                f'transform="rotate(45 {x + bw / 2:.1f} {height - bottom + 12})">{html.escape(str(label))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


@functools.lru_cache(maxsize=1)
def _template() -> Any:
    """Compiled once per process: --alle-gemeenten renders hundreds of pages."""
    env = environment()
    env.filters.update(getal=getal, procent=procent, datum=datum)
    return env.get_template(TEMPLATE)


def render(p: Pagina) -> str:
    maand_labels = [f"{MAANDEN[m['maand'] - 1]} {str(m['jaar'])[2:]}" for m in p.maanden]
    pc = p.postcodes[:TOP_POSTCODES]
    return _template().render(
        p=p,
        maandgrafiek=svg_bars(
            maand_labels, [m["aanslagen"] for m in p.maanden], title=f"Aanslagen per maand, {p.naam}"
        ),
        postcodegrafiek=svg_bars(
            [r["postcode4"] for r in pc],
            [int(r["totaal"]) for r in pc],
            colour="#08306b",
            title=f"Aanslagen per postcodegebied, {p.naam}",
        )
        if pc
        else "",
        wat_werkt=WAT_WERKT,
    )


# --- writing ---------------------------------------------------------------------------------------


def _published(conn: psycopg.Connection) -> None:
    if not (_exists(conn, "publicatie") and _exists(conn, "dim_gemeenten") and _exists(conn, "target_progress")):
        raise NothingPublished("Nothing is published yet: run `explosion-monitor run` first.")


def write_page(conn: psycopg.Connection, code: str, out_dir: Path) -> Path:
    page = read_page(conn, code)
    folder = out_dir / SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{page.code}.html"
    write_atomically(path, render(page))
    return path


def municipalities_with_attacks(conn: psycopg.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select distinct gemeente_code from marts.fct_explosie_incidenten order by gemeente_code"
        ).fetchall()
    ]


def write_pages(
    codes: Sequence[str] | None,
    settings: Settings | None = None,
    url: str | None = None,
    out_dir: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Write one page per code (None: every municipality with a counted attack); returns the paths."""
    settings = settings or get_settings()
    out_dir = Path(out_dir or settings.reports_dir)
    with connect_to(settings, url) as conn:
        _published(conn)
        todo = list(codes) if codes is not None else municipalities_with_attacks(conn)
        paths = []
        for k, code in enumerate(todo, 1):
            paths.append(write_page(conn, code.strip().upper(), out_dir))
            if progress:
                progress(k, len(todo), code)
    return paths


def stderr_progress(k: int, n: int, code: str, _start: list[float] = []) -> None:  # noqa: B006 - a start clock
    if not _start:
        _start.append(time.monotonic())
    if k == n or k % 10 == 0:
        print(f"{k}/{n} gemeentepagina's ({code}), {time.monotonic() - _start[0]:.1f} s", file=sys.stderr, flush=True)
