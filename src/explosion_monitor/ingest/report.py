"""The quarantine report a partner reads: plain language, Dutch first, English beneath."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field

from explosion_monitor.contracts import Contract
from explosion_monitor.ingest.xlsx import FORMULA

MAX_LISTED = 200
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+([.,]\d+)?$")
MAX_VALUE_CHARS = 60
# From this many row errors on, a report opens with the count per column and check.
SUMMARY_FROM = 10

# code -> (Dutch, English); {col} is the column, {extra} a code-specific detail.
MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("verplicht veld is leeg", "required value is empty"),
    "formula": ("de cel bevat een formule in plaats van een waarde", "the cell holds a formula instead of a value"),
    "control_chars": (
        "bevat stuurtekens (zoals tab of regeleinde)",
        "contains control characters (such as tab or newline)",
    ),
    "max_length": ("is langer dan {extra} tekens", "is longer than {extra} characters"),
    "date_format": (
        "is geen datum in de vorm 2025-04-16 of 16-04-2025 (eventueel met een geldige tijd, zoals 16-04-2025 14:35)",
        "is not a date written as 2025-04-16 or 16-04-2025 (optionally with a valid time, such as 16-04-2025 14:35)",
    ),
    "date_invalid": ("bestaat niet als datum", "is not a real calendar date"),
    "date_range": ("ligt niet tussen 1990 en 2100", "is not between 1990 and 2100"),
    "thousands": (
        "bevat een scheidingsteken voor duizendtallen; dat is niet toegestaan",
        "contains a thousands separator, which is not allowed",
    ),
    "negative": ("mag niet negatief zijn", "must not be negative"),
    "ambiguous_thousands": (
        "is dubbelzinnig: in een bestand met ; kan 12.500 twaalfduizend vijfhonderd (Excel) of 12,5 betekenen; "
        "schrijf het getal zonder scheidingsteken voor duizendtallen (12500) of met decimale komma (12,5)",
        "is ambiguous: in a ;-file 12.500 can mean twelve thousand five hundred (as Dutch Excel writes it) or 12.5; "
        "write the number without a thousands separator (12500) or with a decimal comma (12,5)",
    ),
    "identifier": (
        "is geen geldige code: alleen letters, cijfers en - _ . / zijn toegestaan (1 tot 40 tekens)",
        "is not a valid identifier: only letters, digits and - _ . / are allowed (1 to 40 characters)",
    ),
    "integer": ("is geen geheel getal", "is not a whole number"),
    "integer_range": ("is te groot", "is too large"),
    "decimal": ("is geen getal (zoals 1234,50 of 1234.50)", "is not a number (such as 1234,50 or 1234.50)"),
    "decimal_comma": (
        "is geen getal met decimale punt (zoals 1234.50); een decimale komma mag alleen in bestanden met ;",
        "is not a number with a decimal point (such as 1234.50); a decimal comma is only allowed in ;-files",
    ),
    "boolean": (
        "is geen ja/nee-waarde (ja/nee, j/n, true/false, 1/0, waar/onwaar)",
        "is not a yes/no value (ja/nee, j/n, true/false, 1/0, waar/onwaar)",
    ),
    "enum": ("is geen toegestane waarde; toegestaan: {extra}", "is not an allowed value; allowed: {extra}"),
    "postcode_full": (
        "is een volledige postcode; lever alleen de 4 cijfers",
        "is a full postcode; deliver only the 4 digits",
    ),
    "postcode4": ("is geen postcode van 4 cijfers", "is not a 4-digit postal code"),
    "pseudoniem": (
        "is geen pseudoniem van 64 hexadecimale tekens (0-9, a-f)",
        "is not a pseudonym of 64 hexadecimal characters (0-9, a-f)",
    ),
    "gemeente_format": ("is geen CBS-gemeentecode (GM + 4 cijfers)", "is not a CBS municipality code (GM + 4 digits)"),
    "gemeente_unknown": ("is geen bekende CBS-gemeentecode", "is not a known CBS municipality code"),
    "gemeente_expired": (
        "was op de datum van het voorval niet meer geldig: {extra}",
        "was no longer valid on the date of the event: {extra}",
    ),
    "duplicate_key": (
        "sleutel {extra} komt vaker voor in dit bestand",
        "key {extra} appears more than once in this file",
    ),
}


def safe_value(value: str | None) -> str:
    """Echo a value so that no spreadsheet runs it and no terminal misreads it."""
    if value is None:
        return "(leeg)"
    if value.startswith(FORMULA):
        value = value[len(FORMULA) :]
    shown = value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "…"
    shown = shown.encode("unicode_escape").decode("ascii") if not shown.isprintable() else shown
    if shown[:1] in ("=", "+", "-", "@", "\t", "\r", "|") and not _PLAIN_NUMBER.match(shown):
        shown = "'" + shown
    return f'"{shown}"'


@dataclass
class Finding:
    line: int | None
    column: str | None
    value: str | None
    code: str
    extra: str = ""

    def sentence(self, lang: int) -> str:
        template = MESSAGES.get(self.code)
        if template is None and self.code.startswith("rule:"):
            return self.extra.split("\x1e")[lang]
        text = (template or (self.code, self.code))[lang].format(extra=self.extra)
        return text


@dataclass
class Report:
    feed: str
    file_name: str
    arrived_at: dt.datetime
    file_format: str = ""
    file_error: tuple[str, str] | None = None
    file_error_line: int | None = None
    # For a file-level problem: what was found and hints at the cause, (Dutch, English) per line.
    file_error_details: list[tuple[str, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # Row errors per (column, check) over the whole file.
    summary: Counter[tuple[str, str]] = field(default_factory=Counter)
    total_errors: int = 0
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return max(self.total_errors, len(self.findings)) + (1 if self.file_error else 0)

    @staticmethod
    def _extra(contract: Contract, column: str, code: str) -> str:
        """The detail a summary line needs (limits, allowed values, a rule's sentence); none for the others."""
        if code in ("gemeente_expired", "duplicate_key"):
            return "(zie de regels hieronder / see the rows below)"
        if column not in contract.column_names and not code.startswith("rule:"):
            return ""
        try:
            return extra(contract, column, code)
        except (KeyError, StopIteration):
            return ""

    def render(self, contract: Contract) -> str:
        out = [
            f"Kwaliteitsrapport / quality report — feed '{self.feed}'",
            f"Bestand / file: {safe_value(self.file_name)}",
            f"Ontvangen / received: {self.arrived_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC",
        ]
        if self.file_format:
            out.append(f"Herkend formaat / detected format: {self.file_format}")
        out += [
            "",
            "Het bestand is GEWEIGERD en in quarantaine geplaatst. Er is niets van geladen.",
            "Verbeter het bestand en lever het opnieuw aan in incoming/.",
            "The file was REJECTED and quarantined. Nothing of it was loaded.",
            "Correct the file and deliver it again into incoming/.",
            "",
        ]
        if self.file_error:
            where = f" (regel/line {self.file_error_line})" if self.file_error_line else ""
            out += [f"Bestandsfout{where}: {self.file_error[0]}", f"File error{where}: {self.file_error[1]}"]
            for nl, en in self.file_error_details:
                out += [f"- {nl}", f"  {en}"]
            out.append("")
        if self.summary and self.total_errors >= SUMMARY_FROM:
            out.append("Fouten per kolom en controle / errors per column and check:")
            for (column, code), n in sorted(self.summary.items(), key=lambda kv: (-kv[1], kv[0])):
                f = Finding(None, column, None, code, self._extra(contract, column, code))
                out.append(f"- {n} × kolom {column}: {f.sentence(0)}")
                out.append(f"  {n} × column {column}: {f.sentence(1)}")
            out.append("")
        if self.findings:
            out.append(f"Fouten per regel / errors per row ({self.total_errors}); de eerste regels:")
            for f in self.findings[:MAX_LISTED]:
                desc = ""
                if f.column and f.column in contract.column_names:
                    desc = f" ({contract.column(f.column).description.rstrip('.')})"
                head = f"- regel {f.line}, kolom {f.column}, waarde {safe_value(f.value)}"
                out.append(f"{head}: {f.sentence(0)}")
                out.append(f"  line {f.line}, column {f.column}{desc}: {f.sentence(1)}")
            rest = self.total_errors - min(len(self.findings), MAX_LISTED)
            if rest > 0:
                out.append(f"... en nog {rest} fouten / and {rest} more errors.")
            out.append("")
        if self.warnings:
            out.append("Waarschuwingen (geen reden tot weigering) / warnings (not a reason to reject):")
            out += [f"- {nl} / {en}" for nl, en in self.warnings]
            out.append("")
        out.append("Contract: partner delivery agreement, version 2; kolommen / columns:")
        for col in contract.columns:
            need = "verplicht/required" if col.required else "optioneel/optional"
            values = f" [{', '.join(col.values)}]" if col.values else ""
            out.append(f"  {col.name}: {col.type}{values}, {need}")
        return "\n".join(out) + "\n"


def extra(contract: Contract, col: str, code: str, naam=None, geldig_tot=None, opvolger=None) -> str:
    """The detail a finding's sentence needs."""
    if code == "max_length":
        return str(contract.column(col).max_length)
    if code == "enum":
        return ", ".join(contract.column(col).values)
    if code == "gemeente_expired":
        return f"{naam} is per {geldig_tot} opgegaan in {opvolger} / {naam} merged into {opvolger} on {geldig_tot}"
    if code.startswith("rule:"):
        rule = next(r for r in contract.rules if r.name == code[5:])
        return f"{rule.nl}\x1e{rule.en}"
    return ""
