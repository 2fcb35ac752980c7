"""A static scan of SQL text for constructs that need a newer PostgreSQL than the oldest supported (15).

Every SQL text the pipeline sends is scanned: the GX suites (expectations/*.yml), the dbt models, macros,
tests and snapshots (Jinja blanked out), the BI questions (docker/metabase) and the SQL strings in the
Python code (string literals that read as SQL). The real proof is tests/test_pg_versions.py, which builds,
gates and publishes on 15 (when installed), 16 and 18; this scan catches what the sample data never runs.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

OLDEST = 15


@dataclasses.dataclass(frozen=True)
class Finding:
    where: str
    needs: int
    what: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what} needs PostgreSQL {self.needs}+ ({self.excerpt!r})"


# (minimum major version, what, pattern) on SQL with comments and string literals blanked out.
_FEATURES: list[tuple[int, str, re.Pattern[str]]] = [
    (16, "any_value()", re.compile(r"\bany_value\s*\(")),
    (
        16,
        "SQL/JSON constructor json_array()/json_arrayagg()/json_objectagg()",
        re.compile(r"\bjson_(array|arrayagg|objectagg)\s*\("),
    ),
    (
        16,
        "SQL/JSON constructor json_object(k : v) / json_object(k value v)",
        re.compile(r"\bjson_object\s*\((?:[^()]|\([^()]*\))*?(?:(?<!:):(?!:)|\bvalue\b)"),
    ),
    (16, "IS JSON predicate", re.compile(r"\bis\s+(?:not\s+)?json\b")),
    (
        17,
        "JSON_TABLE / json_exists / json_query / json_value / json_serialize / json_scalar",
        re.compile(r"\bjson_(table|exists|query|value|serialize|scalar)\s*\("),
    ),
    (17, "MERGE ... RETURNING", re.compile(r"\bmerge\s+into\b[^;]*\breturning\b")),
    (17, "merge_action()", re.compile(r"\bmerge_action\s*\(")),
    (18, "OLD/NEW in RETURNING", re.compile(r"\breturning\b[^;]*\b(?:old|new)\s*\.")),
    (16, "system_user", re.compile(r"\bsystem_user\b")),
    (16, "pg_input_is_valid() / pg_input_error_info()", re.compile(r"\bpg_input_(is_valid|error_info)\s*\(")),
    (
        16,
        "array_sample() / array_shuffle() / random_normal()",
        re.compile(r"\b(array_sample|array_shuffle|random_normal)\s*\("),
    ),
    (16, "date_add() / date_subtract()", re.compile(r"\bdate_(add|subtract)\s*\(")),
    (
        17,
        "to_bin() / to_oct() / uuid_extract_timestamp()",
        re.compile(r"\b(to_bin|to_oct|uuid_extract_timestamp|uuid_extract_version)\s*\("),
    ),
    (
        18,
        "uuidv7() / uuidv4() / casefold() / array_sort() / array_reverse() / crc32()",
        re.compile(r"\b(uuidv7|uuidv4|casefold|array_sort|array_reverse|crc32c?)\s*\("),
    ),
    (16, "GRANT ... WITH INHERIT/SET", re.compile(r"\bgrant\b[^;]*\bwith\s+(?:inherit|set)\s+(?:true|false|option)\b")),
    (
        16,
        "predefined role pg_use_reserved_connections / pg_create_subscription",
        re.compile(r"\bpg_(use_reserved_connections|create_subscription)\b"),
    ),
    (17, "predefined role pg_maintain / MAINTAIN privilege", re.compile(r"\bpg_maintain\b|\bgrant\s+maintain\b")),
    (16, "numeric literal with underscores", re.compile(r"(?<![\w.])\d+(?:_\d+)+(?![\w.])")),
    (16, "non-decimal integer literal", re.compile(r"(?<![\w.])0[xob][0-9a-f_]+(?![\w.])")),
    (17, "COPY ... ON_ERROR / LOG_VERBOSITY", re.compile(r"\b(on_error|log_verbosity)\b")),
    (
        16,
        "VACUUM (BUFFER_USAGE_LIMIT / SKIP_DATABASE_STATS)",
        re.compile(r"\b(buffer_usage_limit|skip_database_stats)\b"),
    ),
    (17, "EXPLAIN (SERIALIZE / MEMORY)", re.compile(r"\bexplain\s*\([^)]*\b(serialize|memory)\b")),
    (
        18,
        "WITHOUT OVERLAPS / virtual generated column",
        re.compile(r"\bwithout\s+overlaps\b|\bgenerated\s+always\s+as\s*\((?:[^()]|\([^()]*\))*\)\s*virtual\b"),
    ),
    (17, "pg_stat_checkpointer / pg_wait_events", re.compile(r"\bpg_(stat_checkpointer|wait_events)\b")),
    (16, "pg_stat_io", re.compile(r"\bpg_stat_io\b")),
]

# Server settings that 15 does not know: using one without looking at server_version_num breaks there.
_NEW_SETTINGS = {
    "reserved_connections": 16, "createrole_self_grant": 16, "scram_iterations": 16,
    "enable_presorted_aggregate": 16, "icu_validation_level": 16, "send_abort_for_crash": 16,
    "transaction_timeout": 17, "allow_alter_system": 17, "summarize_wal": 17, "event_triggers": 17,
    "io_method": 18, "io_workers": 18, "md5_password_warnings": 18, "idle_replication_slot_timeout": 18,
    "max_active_replication_origins": 18, "autovacuum_worker_slots": 18,
}  # fmt: skip
_SETTING = re.compile(r"\b(" + "|".join(_NEW_SETTINGS) + r")\b")

_KEYWORDS_AFTER_FROM_ITEM = {
    "where", "group", "order", "having", "limit", "offset", "union", "intersect", "except", "join", "left",
    "right", "full", "inner", "cross", "natural", "on", "using", "window", "for", "returning", "fetch", "into",
    "tablesample", "select", "from", "and", "or", "then", "else", "end", "when",
}  # fmt: skip
_SUBQUERY_START = re.compile(r"\b(from|join|lateral)\s*\(", re.IGNORECASE)
_SQLISH = re.compile(
    r"\b(select|insert\s+into|update|delete\s+from|create|alter|grant|revoke|merge|copy|set)\b", re.IGNORECASE
)
_SQL_START = re.compile(r"^\s*\(*\s*(select|with|values)\b", re.IGNORECASE)


def blank_comments_and_literals(text: str) -> str:
    """SQL with comments removed and string literals and quoted identifiers emptied (their length kept)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c in "'\"":
            j = i + 1
            while j < n:
                if text[j] == c and text[j + 1 : j + 2] == c:
                    j += 2
                elif text[j] == c:
                    break
                else:
                    j += 1
            out.append(c + " " * max(j - i - 1, 0) + c if c == "'" else "q")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _closing_paren(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def unaliased_subqueries(sql_text: str) -> Iterator[str]:
    """Excerpts of every subquery in FROM or JOIN without an alias (PostgreSQL 15 rejects them)."""
    text = blank_comments_and_literals(sql_text)
    for m in _SUBQUERY_START.finditer(text):
        open_at = m.end() - 1
        close_at = _closing_paren(text, open_at)
        if close_at < 0 or not _SQL_START.match(text[open_at + 1 : close_at]):
            continue  # not a subquery: a parenthesised join, a function such as extract(... from (x))
        after = re.match(r"\s*([A-Za-z_][A-Za-z0-9_$]*)?", text[close_at + 1 :])
        word = (after.group(1) or "").lower() if after else ""
        if word and word not in _KEYWORDS_AFTER_FROM_ITEM:
            continue  # `as x` or a bare alias
        yield " ".join(text[m.start() : min(close_at + 25, len(text))].split())[:160]


def scan(sql_text: str, where: str) -> list[Finding]:
    """Everything in one SQL text that needs a server newer than 15."""
    found = [Finding(where, 16, "subquery in FROM without an alias", e) for e in unaliased_subqueries(sql_text)]
    text = blank_comments_and_literals(sql_text).lower()
    for needs, what, pattern in _FEATURES:
        for m in pattern.finditer(text):
            found.append(Finding(where, needs, what, " ".join(m.group(0).split())[:120]))
    raw = sql_text.lower()  # settings are often named in strings: set_config('...'), current_setting('...')
    if "server_version_num" not in raw:  # a guarded use asks the server's version first
        for m in _SETTING.finditer(raw):
            found.append(Finding(where, _NEW_SETTINGS[m.group(1)], f"setting {m.group(1)} (unguarded)", m.group(0)))
    return [f for f in found if f.needs > OLDEST]


# --- where the SQL lives ------------------------------------------------------------------------------------------

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def dbt_sql(text: str) -> str:
    """A dbt file with Jinja made neutral: expressions become a plain name, statements and comments vanish."""
    return _JINJA.sub(lambda m: "jinja_ref" if m.group(0).startswith("{{") else " ", text)


def _yaml_strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _yaml_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _yaml_strings(value)


def suite_sql(path: Path) -> Iterator[str]:
    """The SQL of a GX suite: its asset query and every unexpected_rows_query; {batch} stands for a subquery."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    texts = [(doc.get("asset") or {}).get("query")]
    texts += [(e.get("kwargs") or {}).get("unexpected_rows_query") for e in doc.get("expectations") or []]
    for text in texts:
        if isinstance(text, str):
            # GX fills in `(select * from <table> where true)`; the placeholders of the run become values
            text = text.replace("{batch}", "(select * from batch_table where true)")
            yield re.sub(r"\{[a-z_]+\}", "0", text)


def python_sql(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal in a Python file that reads as SQL; f-string fields become names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    seen: set[int] = set()
    # Docstrings are prose about SQL, never sent to a server.
    for owner in ast.walk(tree):
        if (
            isinstance(owner, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and ast.get_docstring(owner, clean=False) is not None
        ):
            seen.add(id(owner.body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "expr_value" for v in node.values]
            for v in node.values:
                seen.add(id(v))
            text = "".join(str(p) for p in parts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in seen:
            text = node.value
        else:
            continue
        if _SQLISH.search(text) and re.search(r"\b(from|into|table|role|schema|database|as)\b", text, re.IGNORECASE):
            yield node.lineno, text


def sql_texts(root: Path) -> Iterator[tuple[str, str]]:
    """(where, sql) of every SQL text in the checkout at `root`."""
    for path in sorted((root / "expectations").rglob("*.yml")):
        for n, text in enumerate(suite_sql(path), start=1):
            yield f"{path.relative_to(root)} (query {n})", text
    for folder in ("models", "macros", "tests", "snapshots", "analyses"):
        for path in sorted((root / "dbt_project" / folder).rglob("*.sql")):
            yield str(path.relative_to(root)), dbt_sql(path.read_text(encoding="utf-8"))
    for path in sorted((root / "docker").rglob("*.sql")):
        yield str(path.relative_to(root)), path.read_text(encoding="utf-8")
    for path in sorted((root / "docker" / "metabase").rglob("*.yml")):
        for n, text in enumerate(_yaml_strings(yaml.safe_load(path.read_text(encoding="utf-8")))):
            if _SQLISH.search(text) and re.search(r"\bfrom\b", text, re.IGNORECASE):
                yield f"{path.relative_to(root)} (text {n})", text
    for folder in ("src", "dags", "docker", "bench"):
        for path in sorted((root / folder).rglob("*.py")):
            for line, text in python_sql(path):
                yield f"{path.relative_to(root)}:{line}", text
