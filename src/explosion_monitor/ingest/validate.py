"""Set-based validation: the contract's rules as SQL over a staging table of text columns.

The staging table holds one text column per header position (`c0`, `c1`, ...), named by us,
so no header text or file name ever becomes SQL. Validation runs in layers, each a
subquery that PostgreSQL materialises per row (`offset 0`), so every cell is trimmed,
checked and cast exactly once:

1. `v`: the contract's columns, trimmed, empty as NULL (a missing optional column is NULL);
2. `e`: per column, the code of the first check it fails, or NULL;
3. `t`: per column, the typed value when the cell passed;
4. the cross-column rules and the municipality check over typed values.

The happy path is one INSERT ... SELECT over these layers; only when it inserts fewer rows
than were staged do we run the query that names every bad cell.
"""

from __future__ import annotations

import datetime as dt

from psycopg import sql

from explosion_monitor.contracts import ARRIVAL, Column, Contract
from explosion_monitor.ingest.xlsx import FORMULA

MIN_YEAR, MAX_YEAR = 1990, 2100
ISO_DATE = r"^\d{4}-\d{1,2}-\d{1,2}$"
NL_DATE = r"^\d{1,2}-\d{1,2}-\d{4}$"
INT_THOUSANDS = r"^\d{1,3}([.,]\d{3})+$"
# A thousands separator, by delimiter: in ;-files the comma is the decimal sign.
DEC_THOUSANDS = {
    ",": r"^-?\d{1,3}(,\d{3})+(\.\d+)?$",
    ";": r"^-?\d{1,3}(\.\d{3})+(,\d+)?$|^-?\d{1,3}(,\d{3})+\.\d+$",
}
BOOLEAN_TRUE = ("ja", "j", "true", "1")
BOOLEAN_ALL = ("ja", "nee", "j", "n", "true", "false", "1", "0")
# The municipality checks, reported on gemeente_code.
GEMEENTE_CHECKS = ("gemeente_unknown", "gemeente_expired")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class FileChecks:
    """The SQL for one file: its contract, its header mapping and how its numbers are written."""

    def __init__(self, contract: Contract, header: list[str], delimiter: str, arrival: dt.date) -> None:
        self.contract = contract
        self.header = header
        self.delimiter = delimiter
        self.arrival = arrival
        self.position = {name: i for i, name in enumerate(header) if name in contract.column_names}

    # -- layer 1: the normalised view ------------------------------------------------------------
    def view_sql(self) -> str:
        cols = []
        for col in self.contract.columns:
            pos = self.position.get(col.name)
            expr = f"nullif(btrim(c{pos}, E' \\t\\r\\n\\u00a0'), '')" if pos is not None else "null::text"
            cols.append(f"{expr} as {_q(col.name)}")
        # Rows with no value at all (Excel's trailing ';;;;' lines) carry no data.
        return f"select lineno, {', '.join(cols)} from stage where not ({self.blank_row()}) offset 0"

    def blank_row(self) -> str:
        cells = ", ".join(f"c{i}" for i in range(len(self.header))) or "''"
        return f"btrim(concat({cells}), E' \\t\\r\\n\\u00a0') = ''"

    # -- layer 2: the first failing check per cell ----------------------------------------------
    def _number_shape(self) -> str:
        return r"^\d{1,15}([.,]\d{1,6})?$" if self.delimiter == ";" else r"^\d{1,15}(\.\d{1,6})?$"

    def _digits_only(self, x: str) -> str:
        return f"translate({x}, '0123456789', '')"

    def valid(self, col: Column, x: str) -> str:
        """True when a present cell is valid: cheap string functions, no regex on the happy path."""
        d = self._digits_only(x)
        if col.type == "text":
            limit = f" and length({x}) <= {col.max_length}" if col.max_length else ""
            return f"{x} !~ '[[:cntrl:]]'{limit}"
        if col.type == "date":
            # Digits and two dashes, a four-digit year first (ISO) or last (Dutch); DateStyle is DMY.
            return (
                f"{d} = '--' and length({x}) between 8 and 10 "
                f"and (length(split_part({x}, '-', 1)) = 4 or length(split_part({x}, '-', 3)) = 4) "
                f"and pg_input_is_valid({x}, 'date') "
                f"and extract(year from {x}::date) between {MIN_YEAR} and {MAX_YEAR}"
            )
        if col.type == "integer":
            return f"{d} = '' and length({x}) <= 9"
        if col.type == "decimal":
            signs = "('', '.', ',')" if self.delimiter == ";" else "('', '.')"
            return (
                f"{d} in {signs} and length({x}) <= 22 "
                f"and left({x}, 1) between '0' and '9' and right({x}, 1) between '0' and '9'"
            )
        if col.type == "boolean":
            return f"lower({x}) in {_in(BOOLEAN_ALL)}"
        if col.type == "enum":
            return f"lower({x}) in {_in(col.values)}"
        if col.type == "postcode4":
            return f"length({x}) = 4 and {d} = '' and left({x}, 1) <> '0'"
        if col.type == "gemeente":
            return f"length({x}) = 6 and upper(left({x}, 2)) = 'GM' and translate(right({x}, 4), '0123456789', '') = ''"
        raise ValueError(col.type)

    def reasons(self, col: Column, x: str) -> list[tuple[str, str]]:
        """Why an invalid cell is invalid: (code, condition) in order; the last has no condition."""
        out = [("formula", f"starts_with({x}, '{FORMULA}')")]
        if col.type == "text":
            out += [("control_chars", f"{x} ~ '[[:cntrl:]]'"), ("max_length", "")]
        elif col.type == "date":
            out += [
                ("date_format", f"not ({x} ~ '{ISO_DATE}' or {x} ~ '{NL_DATE}')"),
                ("date_invalid", f"not pg_input_is_valid({x}, 'date')"),
                ("date_range", ""),
            ]
        elif col.type == "integer":
            out += [
                ("thousands", f"{x} ~ '{INT_THOUSANDS}'"),
                ("negative", f"{x} ~ '^-\\d+$'"),
                ("integer_range", f"{x} ~ '^\\d+$'"),
                ("integer", ""),
            ]
        elif col.type == "decimal":
            out += [
                ("thousands", f"{x} ~ '{DEC_THOUSANDS[self.delimiter]}'"),
                ("negative", f"{x} ~ '^-\\d' and substr({x}, 2) ~ '{self._number_shape()}'"),
                ("decimal_comma" if self.delimiter == "," else "decimal", ""),
            ]
        elif col.type == "postcode4":
            out += [("postcode_full", rf"{x} ~* '^\d{{4}}\s*[a-z]{{2}}$'"), ("postcode4", "")]
        else:
            out.append(({"boolean": "boolean", "enum": "enum", "gemeente": "gemeente_format"}[col.type], ""))
        return out

    def _error_case(self, col: Column) -> str:
        x = f"v.{_q(col.name)}"
        when_null = "'required'" if col.required else "null"
        *why, (last, _) = self.reasons(col, x)
        branches = " ".join(f"when {cond} then '{code}'" for code, cond in why)
        return (
            f"case when {x} is null then {when_null} when {self.valid(col, x)} then null "
            f"{branches} else '{last}' end as {_q('e_' + col.name)}"
        )

    def errors_sql(self) -> str:
        cases = ", ".join(self._error_case(c) for c in self.contract.columns)
        return f"select v.*, {cases} from ({self.view_sql()}) v offset 0"

    # -- layer 3: typed values -------------------------------------------------------------------
    def cast(self, col: Column, x: str) -> str:
        if col.type == "date":
            return f"{x}::date"
        if col.type == "integer":
            return f"{x}::integer"
        if col.type == "decimal":
            return f"replace({x}, ',', '.')::numeric" if self.delimiter == ";" else f"{x}::numeric"
        if col.type == "boolean":
            return f"lower({x}) in {_in(BOOLEAN_TRUE)}"
        if col.type == "enum":
            return f"lower({x})"
        if col.type == "gemeente":
            return f"upper({x})"
        return x

    def typed_sql(self) -> str:
        typed = ", ".join(
            f"case when e.{_q('e_' + c.name)} is null then {self.cast(c, 'e.' + _q(c.name))} end"
            f" as {_q('t_' + c.name)}"
            for c in self.contract.columns
        )
        return f"select e.*, {typed} from ({self.errors_sql()}) e offset 0"

    # -- layer 4: rules across columns and against reference data --------------------------------
    def _t(self, name: str) -> str:
        return f"date '{self.arrival.isoformat()}'" if name == ARRIVAL else f"t.{_q('t_' + name)}"

    def rule_conditions(self) -> list[tuple[str, str, str]]:
        """(column reported, code, condition that is true when the rule is broken)."""
        out = []
        for rule in self.contract.rules:
            left, right = self._t(rule.left), self._t(rule.right)
            out.append((rule.left, f"rule:{rule.name}", f"not ({left} {rule.op} {right})"))
        event = self._t(self.contract.event_date)
        out.append(("gemeente_code", "gemeente_unknown", f"{self._t('gemeente_code')} is not null and g.naam is null"))
        out.append(("gemeente_code", "gemeente_expired", f"g.geldig_tot is not null and {event} >= g.geldig_tot"))
        return out

    def checked_sql(self) -> str:
        """Every staged row with its per-column error codes, rule outcomes, and an `ok` flag."""
        rules = ", ".join(
            f"coalesce({cond}, false) as {_q('r' + str(i))}" for i, (_, _, cond) in enumerate(self.rule_conditions())
        )
        return (
            f"select t.*, g.naam as g_naam, g.geldig_tot as g_geldig_tot, g.opvolger_code as g_opvolger, {rules} "
            f"from ({self.typed_sql()}) t left join ref.gemeente_codes g on g.gemeente_code = t.\"t_gemeente_code\""
        )

    def _ok(self, alias: str = "k") -> str:
        cells = [f"{alias}.{_q('e_' + c.name)} is null" for c in self.contract.columns]
        rules = [f"not {alias}.{_q('r' + str(i))}" for i in range(len(self.rule_conditions()))]
        return " and ".join(cells + rules)

    # -- the statements --------------------------------------------------------------------------
    def count_blank_rows(self) -> str:
        return f"select count(*) from stage where {self.blank_row()}"

    def insert_valid(self, file_id: int, arrived_at: dt.datetime) -> sql.Composed:
        """Insert every row that passes every check; the caller compares counts."""
        targets = sql.SQL(", ").join(sql.Identifier(c.name) for c in self.contract.columns)
        head = sql.SQL("insert into raw.{table} ({targets}, _file_id, _line_number, _arrived_at) select ").format(
            table=sql.Identifier(self.contract.feed), targets=targets
        )
        typed = ", ".join(f"k.{_q('t_' + c.name)}" for c in self.contract.columns)
        lineage = sql.SQL(", {file_id}, k.lineno, {arrived} from ").format(
            file_id=sql.Literal(file_id), arrived=sql.Literal(arrived_at)
        )
        # Generated from the contract only; sql.SQL() is not .format()-ed, so regex braces are safe.
        body = f"({self.checked_sql()}) k where {self._ok()}"
        return head + sql.SQL(typed) + lineage + sql.SQL(body)

    def errors_query(self, limit: int) -> str:
        """Every failing (line, column, value, code, naam, geldig_tot, opvolger, total), first `limit`."""
        pairs = [
            f"('{c.name}', k.{_q(c.name)}, k.{_q('e_' + c.name)})" for c in self.contract.columns
        ]
        pairs += [
            f"('{col}', k.{_q(col)}, case when k.{_q('r' + str(i))} then '{code}' end)"
            for i, (col, code, _) in enumerate(self.rule_conditions())
        ]
        return (
            f"with bad as (select k.lineno, f.col, f.val, f.code, k.g_naam, k.g_geldig_tot, k.g_opvolger "
            f"from ({self.checked_sql()}) k cross join lateral (values {', '.join(pairs)}) as f(col, val, code) "
            f"where not ({self._ok()}) and f.code is not null) "
            "select *, count(*) over () from bad order by lineno, col limit " + str(int(limit))
        )

    def duplicate_keys_query(self, limit: int) -> str:
        key = ", ".join(f"v.{_q(k)}" for k in self.contract.key)
        present = " and ".join(f"v.{_q(k)} is not null" for k in self.contract.key)
        return (
            f"with d as (select lineno, concat_ws(' / ', {key}) as k, "
            f"count(*) over (partition by {key}) as n, min(lineno) over (partition by {key}) as first_line "
            f"from ({self.view_sql()}) v where {present}) "
            f"select lineno, k, first_line, count(*) over () from d where n > 1 and lineno > first_line "
            f"order by lineno limit {int(limit)}"
        )
