"""The open data against a real PostgreSQL: no identifiers, small cells suppressed, no suppressed value derivable.

The proof that no suppressed count can be derived works on what an outsider sees: the published counts, which ones
are suppressed, and the sums that hold between them (a municipality's months add up to its year, the municipalities
of a month to the national month, and the national months and the municipalities' years to the national year).
Because zeros are published and never suppressed, the outsider also knows that every suppressed count is at least 1.

Those sums are flow conservation in a small network (`network`): the national year flows from a root R to every
municipality g (its year total B), from g to every month m (the cell A(g, m)), from m to a second root M (the national
month D(m)) and back from M to R (the national year E). A table is consistent with the publication exactly when it is
a flow with the published values on the published edges and at least 1 on the suppressed ones. A suppressed value
can then be changed, keeping everything published and every sum, exactly when its edge lies on a cycle of the
residual network (an edge may carry more at will, and less when its value is at least 2): the classic max-flow
argument, and the changed table is again whole numbers. `derivable` searches those cycles; `derivable_lp` asks
a linear-programming solver the same question independently (the least and the most each suppressed value can be),
and both agree on the sample and on the crafted cases.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable
from pathlib import Path

import psycopg
import pytest
import yaml

from explosion_monitor.config import get_settings

pytestmark = pytest.mark.timeout(600)

TABLES = {
    "open_data__aanslagen_per_gemeente_maand", "open_data__aanslagen_per_gemeente_jaar",
    "open_data__aanslagen_landelijk_maand", "open_data__aanslagen_landelijk_jaar",
}  # fmt: skip
FORBIDDEN_COLUMN = re.compile(r"postcode|incident|claim|melding|(^|_)id$", re.IGNORECASE)

Key = tuple[str, str, int]  # (tabel, gemeente_code or NL, maand or 0)
Cells = dict[Key, tuple[int, bool]]  # the true value and whether it is suppressed


# --- the audit ----------------------------------------------------------------------------------------------


def network(cells: Cells) -> dict[Key, tuple[object, object, int, bool]]:
    """Each count of one year as an edge (tail, head, value, suppressed) of the flow network described above."""
    edges = {}
    for (tabel, code, maand), (value, suppressed) in cells.items():
        tail, head = {
            "gemeente_jaar": ("R", ("g", code)),
            "gemeente_maand": (("g", code), ("m", maand)),
            "land_maand": (("m", maand), "M"),
            "land_jaar": ("M", "R"),
        }[tabel]
        edges[(tabel, code, maand)] = (tail, head, value, suppressed)
    return edges


def derivable(cells: Cells) -> list[Key]:
    """The suppressed counts that have the same value in every table consistent with the publication."""
    edges = network(cells)
    arcs: dict[object, list[tuple[object, Key]]] = defaultdict(list)
    for key, (tail, head, value, suppressed) in edges.items():
        if suppressed:
            arcs[tail].append((head, key))  # may carry 1 more
            if value >= 2:
                arcs[head].append((tail, key))  # may carry 1 less and stay at least 1

    def path(start: object, goal: object, without: Key) -> bool:
        seen, todo = {start}, deque([start])
        while todo:
            node = todo.popleft()
            if node == goal:
                return True
            for nxt, key in arcs[node]:
                if key != without and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    return sorted(
        key for key, (tail, head, value, suppressed) in edges.items()
        if suppressed and not (path(head, tail, key) or (value >= 2 and path(tail, head, key)))
    )  # fmt: skip


def derivable_lp(cells: Cells) -> list[Key]:
    """The same question for a linear-programming solver: the least and the most each suppressed count can be."""
    np = pytest.importorskip("numpy")
    optimize = pytest.importorskip("scipy.optimize")
    unknown = sorted(k for k, (_, s) in cells.items() if s)
    index = {k: i for i, k in enumerate(unknown)}
    rows, rhs = [], []
    for total, parts in sums(cells):
        row, b = np.zeros(len(unknown)), 0.0
        for key, sign in ((total, -1.0), *((p, 1.0) for p in parts)):
            value, suppressed = cells[key]
            if suppressed:
                row[index[key]] += sign
            else:
                b -= sign * value
        if row.any():
            rows.append(row)
            rhs.append(b)
    if not unknown:
        return []
    truth = np.array([cells[k][0] for k in unknown], dtype=float)
    bound = sum(v for v, _ in cells.values()) + 1  # loose: nothing can exceed all counts together
    undecided = set(range(len(unknown)))
    fixed = []
    for i in range(len(unknown)):
        for direction in (1.0, -1.0):  # the least, then the most x_i can be
            if i not in undecided:
                break
            objective = np.zeros(len(unknown))
            objective[i] = direction
            res = optimize.linprog(objective, A_eq=np.array(rows), b_eq=rhs, bounds=[(1, bound)] * len(unknown))
            assert res.status == 0, res.message
            # a consistent table in which a count differs proves that count cannot be derived
            undecided -= {int(j) for j in np.flatnonzero(np.abs(res.x - truth) > 1e-6)}
        if i in undecided:
            fixed.append(unknown[i])
            undecided.discard(i)
    return fixed


def sums(cells: Cells) -> list[tuple[Key, list[Key]]]:
    """Every published sum of one year as (total, parts)."""
    gemeenten = sorted({c for (t, c, _) in cells if t == "gemeente_jaar"})
    maanden = sorted({m for (t, _, m) in cells if t == "land_maand"})
    out = [(("gemeente_jaar", g, 0), [("gemeente_maand", g, m) for m in maanden]) for g in gemeenten]
    out += [(("land_maand", "NL", m), [("gemeente_maand", g, m) for g in gemeenten]) for m in maanden]
    out.append((("land_jaar", "NL", 0), [("gemeente_jaar", g, 0) for g in gemeenten]))
    out.append((("land_jaar", "NL", 0), [("land_maand", "NL", m) for m in maanden]))
    return out


def lines_giving_away(cells: Cells) -> list[Key]:
    """The sums that give a suppressed count away on their own, by subtraction, knowing that zeros are published."""
    lower = {}
    for total, parts in sums(cells):  # a suppressed total is at least its published parts plus 1 per suppressed part
        if cells[total][1] and total[0] != "land_jaar":
            lower[total] = sum(1 if cells[p][1] else cells[p][0] for p in parts)
    bad = []
    for total, parts in sums(cells):
        hidden = [p for p in parts if cells[p][1]]
        if cells[total][1]:
            if not hidden:
                bad.append(total)
            continue
        rest = cells[total][0] - sum(cells[p][0] for p in parts if not cells[p][1])
        if len(hidden) == 1 or (len(hidden) >= 2 and rest <= sum(lower.get(p, 1) for p in hidden)):
            bad.append(total)
    return bad


# --- the sample publication -----------------------------------------------------------------------------------


def _query(url: str, query: str, params: Iterable[object] = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, tuple(params)).fetchall()


@pytest.fixture(scope="module")
def published(sample_build: str) -> dict[int, Cells]:
    """Per year, every open-data count as published (null when suppressed) joined to the true value from the marts."""
    rows = _query(sample_build, """
        select 'gemeente_maand', o.gemeente_code, o.jaar, o.maand, o.aanslagen, o.onderdrukt, t.aanslagen
        from build.open_data__aanslagen_per_gemeente_maand as o
        join build.target_progress_maandelijks as t
          on t.niveau = 'gemeente' and t.code = o.gemeente_code and t.jaar = o.jaar and t.maand = o.maand
        union all
        select 'gemeente_jaar', o.gemeente_code, o.jaar, 0, o.aanslagen, o.onderdrukt, t.aanslagen
        from build.open_data__aanslagen_per_gemeente_jaar as o
        join (select code, jaar, sum(aanslagen) as aanslagen from build.target_progress_maandelijks
              where niveau = 'gemeente' group by code, jaar) as t on t.code = o.gemeente_code and t.jaar = o.jaar
        union all
        select 'land_maand', 'NL', o.jaar, o.maand, o.aanslagen, o.onderdrukt, t.aanslagen
        from build.open_data__aanslagen_landelijk_maand as o
        join build.target_progress_maandelijks as t
          on t.niveau = 'land' and t.jaar = o.jaar and t.maand = o.maand
        union all
        select 'land_jaar', 'NL', o.jaar, 0, o.aanslagen, o.onderdrukt, t.aanslagen
        from build.open_data__aanslagen_landelijk_jaar as o
        join (select jaar, sum(aanslagen) as aanslagen from build.target_progress_maandelijks
              where niveau = 'land' group by jaar) as t on t.jaar = o.jaar
    """)  # fmt: skip
    years: dict[int, Cells] = defaultdict(dict)
    for tabel, code, jaar, maand, shown, suppressed, truth in rows:
        assert (shown is None) == suppressed, (tabel, code, jaar, maand)
        assert suppressed or shown == truth, (tabel, code, jaar, maand)
        years[jaar][(tabel, code, maand)] = (int(truth), suppressed)
    assert sorted(years) == [2021, 2022, 2023, 2024, 2025, 2026]
    return dict(years)


def test_the_build_ran_the_suppression_tests(sample_build: str) -> None:
    ran = dict(_query(sample_build, "select unique_id, status from ops.dbt_run_results "
                                    "where resource_type in ('model', 'test', 'unit_test') "
                                    "and (unique_id like '%%open_data%%' or unique_id like '%%onderdrukking%%')"))
    names = {uid.split(".")[-1] if uid.startswith("unit_test") else uid.split(".")[2]: s for uid, s in ran.items()}
    for name in ("onderdrukking_aanvullend_en_jaartotalen_blijven", "onderdrukking_rij_met_alleen_enen_gaat_open",
                 "onderdrukking_schaarse_maand_landelijk", "onderdrukking_laatste_redmiddel",
                 "assert_open_data_niet_herleidbaar", "assert_open_data_onderdrukking_voorwaarden",
                 "assert_open_data_gelijk_aan_marts"):  # fmt: skip
        assert names.get(name) == "pass", (name, names.get(name))
    assert {uid: s for uid, s in ran.items() if s not in ("pass", "success")} == {}


def test_only_aggregates_without_identifiers(sample_build: str) -> None:
    columns = _query(sample_build, """
        select table_name, column_name from information_schema.columns
        where table_schema = 'build' and table_name like 'open\\_data\\_\\_%%'
    """)  # fmt: skip
    assert {t for t, _ in columns} == TABLES
    assert [c for c in columns if FORBIDDEN_COLUMN.search(c[1])] == []
    assert {c for t, c in columns if t == "open_data__aanslagen_per_gemeente_maand"} == {
        "gemeente_code", "gemeente_naam", "jaar", "maand", "maand_start", "aanslagen", "onderdrukt",
        "maand_compleet", "peildatum"}  # fmt: skip
    # the YAML promises the same, with a contract the build enforces
    spec = yaml.safe_load((get_settings().dbt_project_dir / "models/open_data/_open_data.yml").read_text())
    for model in spec["models"]:
        assert model["config"]["contract"]["enforced"] is True
        assert all(col["description"] and col["data_type"] for col in model["columns"])
        assert not [col["name"] for col in model["columns"] if FORBIDDEN_COLUMN.search(col["name"])]


def test_every_small_municipal_count_is_suppressed(published: dict[int, Cells]) -> None:
    small = [(jaar, k) for jaar, cells in published.items() for k, (v, s) in cells.items()
             if k[0].startswith("gemeente") and 1 <= v <= 4 and not s]  # fmt: skip
    assert small == []
    month_cells = [(v, s) for cells in published.values() for k, (v, s) in cells.items() if k[0] == "gemeente_maand"]
    assert sum(1 for v, s in month_cells if 1 <= v <= 4) == sum(1 for v, s in month_cells if s and v <= 4) > 2000
    assert not [1 for v, s in month_cells if v == 0 and s]  # zeros are published
    # what stays: the national figures, and the year of most municipalities with 5 or more
    assert all(not s for cells in published.values() for k, (_, s) in cells.items() if k[0] == "land_jaar")
    years_2024 = [(v, s) for k, (v, s) in published[2024].items() if k[0] == "gemeente_jaar" and v >= 5]
    assert sum(1 for _, s in years_2024 if not s) >= 0.75 * len(years_2024)


def test_no_single_sum_gives_a_suppressed_count_away(published: dict[int, Cells]) -> None:
    for jaar, cells in published.items():
        assert lines_giving_away(cells) == [], jaar


def test_no_suppressed_count_can_be_derived(published: dict[int, Cells]) -> None:
    for jaar, cells in published.items():
        assert derivable(cells) == [], jaar


def test_the_audit_agrees_with_linear_programming(published: dict[int, Cells]) -> None:
    cells = published[2021]  # the sparsest year; two of its national months are suppressed
    assert sum(1 for k, (_, s) in cells.items() if k[0] == "land_maand" and s) == 2
    assert derivable_lp(cells) == derivable(cells) == []
    naive = {k: (v, 1 <= v <= 4 and k[0].startswith("gemeente")) for k, (v, _) in cells.items()}
    found = derivable(naive)
    assert len(found) >= 5 and derivable_lp(naive) == found


# --- crafted cases: the dbt unit tests' expectations, and a naive suppression of them -----------------------


def _unit_tests() -> list[dict]:
    path = get_settings().dbt_project_dir / "models/intermediate/open_data/_int_open_data.yml"
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))["unit_tests"]


@pytest.mark.parametrize("case", _unit_tests(), ids=lambda case: case["name"])
def test_crafted_cases_are_safe_and_primary_suppression_alone_is_not(case: dict) -> None:
    given = [r for r in case["given"][0]["rows"] if r["niveau"] == "gemeente"]
    expected = {
        (r["tabel"], r.get("gemeente_code") or "NL", r.get("maand") or 0): (r["aanslagen"], r["onderdrukt"])
        for r in case["expect"]["rows"]
    }
    # the expectation covers every count the model publishes for these months, with the true values
    truth: dict[Key, int] = defaultdict(int)
    for r in given:
        truth[("gemeente_maand", r["code"], r["maand"])] += r["aanslagen"]
        truth[("gemeente_jaar", r["code"], 0)] += r["aanslagen"]
        truth[("land_maand", "NL", r["maand"])] += r["aanslagen"]
        truth[("land_jaar", "NL", 0)] += r["aanslagen"]
    assert {k: v for k, (v, _) in expected.items()} == dict(truth)
    assert derivable(expected) == [] and lines_giving_away(expected) == []
    assert not [k for k, (v, s) in expected.items() if k[0].startswith("gemeente") and 1 <= v <= 4 and not s]
    naive = {k: (v, k[0].startswith("gemeente") and 1 <= v <= 4) for k, v in truth.items()}
    assert derivable(naive), "primary suppression alone would give counts away here"
