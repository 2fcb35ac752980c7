"""Partner contracts as data.

One YAML file per feed describes its columns, types, enums, key and cross-column rules.
Parsing, validation, the raw tables, the dbt sources and the quarantine reports all read
these definitions, so a column is described in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from explosion_monitor.config import FEEDS

# Column types of the contract, and the PostgreSQL type each one loads as.
SQL_TYPES = {
    "text": "text",
    "date": "date",
    "integer": "integer",
    "decimal": "numeric",
    "boolean": "boolean",
    "enum": "text",
    "gemeente": "text",
    "postcode4": "text",
    "pseudoniem": "text",
    "identifier": "text",
}

# Identifiers (ids and partner codes): 1-40 letters, digits and - _ . / (contract v2). The pattern keeps
# markup, formulas and templates out of the marts and the BI tools' CSV exports.
IDENTIFIER_MAX = 40
IDENTIFIER_PATTERN = r"^[\pL0-9._/-]{1,40}$"

# The pseudo-column a rule may name for the day the file arrived.
ARRIVAL = "_aankomstdatum"
OPERATORS = ("<=", ">=", "<", ">")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    description: str
    values: tuple[str, ...] = ()
    max_length: int | None = None
    min: int | None = None

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class Rule:
    """`left op right` must hold whenever both sides have a valid value."""

    name: str
    left: str
    op: str
    right: str
    nl: str
    en: str


@dataclass(frozen=True)
class Contract:
    feed: str
    title: str
    description: str
    key: tuple[str, ...]
    event_date: str
    columns: tuple[Column, ...]
    rules: tuple[Rule, ...] = field(default=())
    partner_contact_env: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def raw_table(self) -> str:
        return f"raw.{self.feed}"


class ContractDefinitionError(ValueError):
    """A contract file is inconsistent; this is a bug in the project, not in a delivery."""


def _check(contract: Contract) -> Contract:
    names = set(contract.column_names)
    if len(names) != len(contract.columns):
        raise ContractDefinitionError(f"{contract.feed}: duplicate column names")
    for col in contract.columns:
        if col.type not in SQL_TYPES:
            raise ContractDefinitionError(f"{contract.feed}.{col.name}: unknown type {col.type}")
        if col.type == "identifier" and col.max_length != IDENTIFIER_MAX:
            raise ContractDefinitionError(f"{contract.feed}.{col.name}: identifiers are 1-{IDENTIFIER_MAX} characters")
        if (col.type == "enum") != bool(col.values):
            raise ContractDefinitionError(f"{contract.feed}.{col.name}: enum values mismatch")
    # A key column may be optional (gemeenten: an empty postcode4 is the whole municipality); the
    # event date, which dates the municipality code, may not.
    for name in contract.key:
        if name not in names:
            raise ContractDefinitionError(f"{contract.feed}: unknown key column {name}")
    if contract.event_date not in names or not contract.column(contract.event_date).required:
        raise ContractDefinitionError(f"{contract.feed}: event column {contract.event_date} must be required")
    for rule in contract.rules:
        if rule.op not in OPERATORS:
            raise ContractDefinitionError(f"{contract.feed}.{rule.name}: operator {rule.op}")
        for side in (rule.left, rule.right):
            if side != ARRIVAL and side not in names:
                raise ContractDefinitionError(f"{contract.feed}.{rule.name}: unknown column {side}")
    return contract


def _from_yaml(path: Path) -> Contract:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    columns = tuple(
        Column(
            name=c["name"],
            type=c["type"],
            required=bool(c["required"]),
            description=c["description"],
            values=tuple(c.get("values", ())),
            max_length=c.get("max_length"),
            min=c.get("min"),
        )
        for c in doc["columns"]
    )
    rules = tuple(Rule(**r) for r in doc.get("rules", ()))
    return _check(
        Contract(
            feed=doc["feed"],
            title=doc["title"],
            description=" ".join(doc["description"].split()),
            key=tuple(doc["key"]),
            event_date=doc["event_date"],
            columns=columns,
            rules=rules,
            partner_contact_env=doc.get("partner_contact_env", ""),
        )
    )


@cache
def get_contract(feed: str) -> Contract:
    if feed not in FEEDS:
        raise KeyError(f"unknown feed {feed!r}; feeds are {', '.join(FEEDS)}")
    return _from_yaml(Path(__file__).with_name(f"{feed}.yml"))


def all_contracts() -> dict[str, Contract]:
    return {feed: get_contract(feed) for feed in FEEDS}
