"""Set-based validation: the contract's rules as SQL over a staging table of text columns.

The staging table holds one text column per header position (`c0`, `c1`, ...), named by us,
so no header text or file name ever becomes SQL. Each contract column maps to its
position; a missing optional column is NULL. The happy path is one INSERT ... SELECT
that casts and filters in the same scan; only when it inserts fewer rows than were
staged do we run the detailed query that names every bad cell.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg import sql

from explosion_monitor.contracts import ARRIVAL, Column, Contract
from explosion_monitor.ingest.xlsx import FORMULA

MIN_YEAR, MAX_YEAR = 1990, 2100
ISO_DATE = r"^\d{4}-\d{1,2}-\d{1,2}$"
NL_DATE = r"^\d{1,2}-\d{1,2}-\d{4}$"


@dataclass(frozen=True)
class Check:
    """One way a cell can be wrong: `failed` is SQL that is true when it is."""

    column: str
    code: str
    failed: str


def _v(name: str) -> str:
    return f'v."{name}"'


class FileChecks:
    """The SQL for one file: its contract, its header mapping and how its numbers are written."""

    def __init__(self, contract: Contract, header: list[str], delimiter: str, arrival: dt.date) -> None:
        self.contract = contract
        self.header = header
        self.delimiter = delimiter
        self.arrival = arrival
        self.position = {name: i for i, name in enumerate(header) if name in contract.column_names}

    # -- the normalised view --------------------------------------------------------------
    def staged_columns(self) -> list[str]:
        return [f"c{i}" for i in range(len(self.header))]

    def view_sql(self) -> str:
        """`v`: one text column per contract column, trimmed, empty as NULL."""
        cols = []
        for col in self.contract.columns:
            pos = self.position.get(col.name)
            expr = f"nullif(btrim(c{pos}, E' \\t\\r\\n\\u00a0'), '')" if pos is not None else "null::text"
            cols.append(f'{expr} as "{col.name}"')
        # Rows with no value at all (Excel's trailing ';;;;' lines) carry no data.
        any_value = " or ".join(f"nullif(btrim(c{i}), '') is not null" for i in range(len(self.header))) or "false"
        return f"select lineno, {', '.join(cols)} from stage where {any_value}"

    # -- per type ---------------------------------------------------------------------------
    def _iso(self, name: str) -> str:
        x = _v(name)
        return (
            f"(case when {x} ~ '{NL_DATE}' then split_part({x}, '-', 3) || '-' || split_part({x}, '-', 2)"
            f" || '-' || split_part({x}, '-', 1) else {x} end)"
        )

    def _decimal_text(self, name: str) -> str:
        x = _v(name)
        return f"replace({x}, ',', '.')" if self.delimiter == ";" else x

    def _number_shape(self) -> str:
        return r"^-?\d{1,15}([.,]\d{1,6})?$" if self.delimiter == ";" else r"^-?\d{1,15}(\.\d{1,6})?$"

    def checks_for(self, col: Column) -> list[Check]:
        x = _v(col.name)
        name = col.name
        checks: list[Check] = []
        if col.required:
            checks.append(Check(name, "required", f"{x} is null"))
        # Everything else only applies to a present value.
        checks.append(Check(name, "formula", f"starts_with({x}, '{FORMULA}')"))
        not_formula = f"not starts_with({x}, '{FORMULA}')"
        if col.type == "text":
            checks.append(Check(name, "control_chars", f"{x} ~ '[[:cntrl:]]'"))
            if col.max_length:
                checks.append(Check(name, "max_length", f"length({x}) > {col.max_length}"))
        elif col.type == "date":
            shape = f"({x} ~ '{ISO_DATE}' or {x} ~ '{NL_DATE}')"
            checks.append(Check(name, "date_format", f"{not_formula} and not {shape}"))
            checks.append(
                Check(name, "date_invalid", f"{shape} and not pg_input_is_valid({self._iso(name)}, 'date')")
            )
            checks.append(
                Check(
                    name,
                    "date_range",
                    f"{shape} and pg_input_is_valid({self._iso(name)}, 'date') and "
                    f"extract(year from {self._iso(name)}::date) not between {MIN_YEAR} and {MAX_YEAR}",
                )
            )
        elif col.type == "integer":
            checks.append(Check(name, "thousands", f"{x} ~ '^\\d{{1,3}}([.,]\\d{{3}})+$'"))
            checks.append(Check(name, "negative", f"{x} ~ '^-\\d+$'"))
            checks.append(
                Check(
                    name,
                    "integer",
                    f"{not_formula} and {x} !~ '^-?\\d+$' and {x} !~ '^\\d{{1,3}}([.,]\\d{{3}})+$'",
                )
            )
            checks.append(Check(name, "integer_range", f"{x} ~ '^\\d{{10,}}$'"))
        elif col.type == "decimal":
            thousands = r"^-?\d{1,3}(\.\d{3})+(,\d+)?$|^-?\d{1,3}(,\d{3})+(\.\d+)?$"
            checks.append(Check(name, "thousands", f"{x} ~ '{thousands}'"))
            checks.append(Check(name, "negative", f"{x} ~ '^-' and {x} ~ '{self._number_shape()}'"))
            checks.append(
                Check(
                    name,
                    "decimal_comma" if self.delimiter == "," else "decimal",
                    f"{not_formula} and {x} !~ '{self._number_shape()}' and {x} !~ '{thousands}'",
                )
            )
        elif col.type == "boolean":
            checks.append(
                Check(name, "boolean", f"lower({x}) not in ('ja', 'nee', 'j', 'n', 'true', 'false', '1', '0')")
            )
        elif col.type == "enum":
            values = ", ".join(f"'{v}'" for v in col.values)
            checks.append(Check(name, "enum", f"lower({x}) not in ({values})"))
        elif col.type == "postcode4":
            checks.append(Check(name, "postcode_full", rf"{x} ~* '^\d{{4}}\s*[a-z]{{2}}$'"))
            checks.append(Check(name, "postcode4", rf"{x} !~* '^\d{{4}}\s*[a-z]{{2}}$' and {x} !~ '^[1-9]\d{{3}}$'"))
        elif col.type == "gemeente":
            checks.append(Check(name, "gemeente_format", f"upper({x}) !~ '^GM\\d{{4}}$'"))
        return checks

    def cast(self, col: Column) -> str:
        x = _v(col.name)
        if col.type == "date":
            return f"{self._iso(col.name)}::date"
        if col.type == "integer":
            return f"{x}::integer"
        if col.type == "decimal":
            return f"{self._decimal_text(col.name)}::numeric"
        if col.type == "boolean":
            return f"lower({x}) in ('ja', 'j', 'true', '1')"
        if col.type in ("enum",):
            return f"lower({x})"
        if col.type == "gemeente":
            return f"upper({x})"
        if col.type == "postcode4":
            return x
        return x

    # -- rules across columns and against reference data ---------------------------------------
    def _typed(self, name: str) -> str:
        if name == ARRIVAL:
            return f"date '{self.arrival.isoformat()}'"
        return self.cast(self.contract.column(name))

    def cell_checks(self) -> list[Check]:
        return [check for col in self.contract.columns for check in self.checks_for(col)]

    def _cell_ok(self, names: tuple[str, ...]) -> str:
        fails = [c.failed for c in self.cell_checks() if c.column in names]
        return " and ".join(f"not coalesce({f}, false)" for f in fails) or "true"

    def rule_checks(self) -> list[Check]:
        checks = []
        for rule in self.contract.rules:
            sides = tuple(s for s in (rule.left, rule.right) if s != ARRIVAL)
            present = " and ".join(f"{_v(s)} is not null" for s in sides)
            cond = f"{present} and {self._cell_ok(sides)} and not ({self._typed(rule.left)} {rule.op} {self._typed(rule.right)})"
            checks.append(Check(rule.left, f"rule:{rule.name}", cond))
        event = self._typed(self.contract.event_date)
        gm = _v("gemeente_code")
        ok = self._cell_ok(("gemeente_code", self.contract.event_date))
        checks.append(
            Check(
                "gemeente_code",
                "gemeente_unknown",
                f"{gm} is not null and {ok} and g.gemeente_code is null",
            )
        )
        checks.append(
            Check(
                "gemeente_code",
                "gemeente_expired",
                f"{gm} is not null and {self._cell_ok((self.contract.event_date,))} and {ok} "
                f"and g.geldig_tot is not null and {event} >= g.geldig_tot",
            )
        )
        return checks

    def all_checks(self) -> list[Check]:
        return self.cell_checks() + self.rule_checks()

    def _from(self) -> str:
        return (
            f"({self.view_sql()}) v left join ref.gemeente_codes g "
            f"on g.gemeente_code = upper({_v('gemeente_code')})"
        )

    # -- the statements ------------------------------------------------------------------------
    def insert_valid(self, file_id: int, arrived_at: dt.datetime) -> sql.Composed:
        """Insert every row that passes every check; the caller compares counts."""
        ok = " and ".join(f"not coalesce({c.failed}, false)" for c in self.all_checks())
        targets = [sql.Identifier(c.name) for c in self.contract.columns]
        casts = ", ".join(self.cast(c) for c in self.contract.columns)
        head = sql.SQL("insert into raw.{table} ({targets}, _file_id, _line_number, _arrived_at) select ").format(
            table=sql.Identifier(self.contract.feed), targets=sql.SQL(", ").join(targets)
        )
        lineage = sql.SQL(", {file_id}, v.lineno, {arrived} from ").format(
            file_id=sql.Literal(file_id), arrived=sql.Literal(arrived_at)
        )
        # Generated from the contract only; sql.SQL() is not .format()-ed, so regex braces are safe.
        return head + sql.SQL(casts) + lineage + sql.SQL(self._from() + " where " + ok)

    def count_data_rows(self) -> str:
        return f"select count(*) from ({self.view_sql()}) v"

    def errors_query(self, limit: int) -> str:
        """Every failing (line, column, value, check, extra), first `limit`, and the total count."""
        checks = self.all_checks()
        values = ", ".join(
            f"('{c.column}', {_v(c.column)}, '{c.code}', coalesce({c.failed}, false))" for c in checks
        )
        return (
            "with bad as ("
            f"select v.lineno, c.col, c.val, c.code, g.naam, g.geldig_tot, g.opvolger_code from {self._from()} "
            f"cross join lateral (values {values}) as c(col, val, code, failed) where c.failed"
            ") select lineno, col, val, code, naam, geldig_tot, opvolger_code, count(*) over () "
            f"from bad order by lineno, col limit {int(limit)}"
        )

    def duplicate_keys_query(self, limit: int) -> str:
        key = ", ".join(_v(k) for k in self.contract.key)
        return (
            f"with v as ({self.view_sql()}), d as ("
            f"select lineno, concat_ws(' / ', {key}) as k, count(*) over (partition by {key}) as n, "
            f"min(lineno) over (partition by {key}) as first_line from v) "
            f"select lineno, k, first_line, count(*) over () from d where n > 1 and lineno > first_line "
            f"order by lineno limit {int(limit)}"
        )
