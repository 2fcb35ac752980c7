"""Municipality logins and row-level security on the neighbourhood tables (issue 14).

A mayor's local triangle may see its own neighbourhoods, and no other municipality's. The tables in `PROTECTED`
hold rows per postcode4, per repeat address or per report; on each of them row-level security is on, with:

- one policy per municipality login (`gemeente_gm0363` for GM0363): `gemeente_code = 'GM0363'`;
- one policy for `analist` (incident-level access for the analysts): every row;
- no policy for `bi_reader`, so BI tools see none of their rows (they read the aggregate marts).

A municipality login is a member of `gemeente_lezer` (select on the protected tables) and of `bi_reader` (the
schema and the aggregate marts). The policies live on the tables; both publications keep them:
`publish._stage` and the analysis runner call `apply_policies` on what they publish (the count's publication
builds a new schema, so it is applied there before the swap; the analysis publication replaces rows in place and
applies it for tables it creates). `apply_policies` is idempotent.

The login names come from a validated municipality code only; SQL is composed with psycopg.sql.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

PROTECTED = ("aanslagen_per_postcode4", "herhaling_adressen", "nazorg_meldingen", "verhoogd_risico",
             "hotspots_postcode4")
ANALIST = "analist"
GROUP = "gemeente_lezer"
BI_READER = "bi_reader"
_CODE = re.compile(r"^GM\d{4}$")
_LOGIN = re.compile(r"^gemeente_gm(\d{4})$")


class AccessError(RuntimeError):
    """A login could not be created; one sentence for the user."""


def login_name(gemeente_code: str) -> str:
    code = gemeente_code.strip().upper()
    if not _CODE.match(code):
        raise AccessError(f"{gemeente_code!r} is not a municipality code (GM followed by four digits, e.g. GM0363).")
    return f"gemeente_{code.lower()}"


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is not None


def ensure_roles(conn: psycopg.Connection) -> None:
    """The group role of the municipality logins and `analist` (if the data-protection setup has not made it)."""
    for role in (GROUP, ANALIST):
        if not _role_exists(conn, role):
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
    if _role_exists(conn, BI_READER):
        for role in (GROUP, ANALIST):
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(BI_READER), sql.Identifier(role)))


def municipality_logins(conn: psycopg.Connection) -> dict[str, str]:
    """login role -> municipality code, for every role that is a municipality login (member of gemeente_lezer)."""
    rows = conn.execute(
        """
        select m.rolname
        from pg_roles as m
        join pg_auth_members as am on am.member = m.oid
        join pg_roles as g on g.oid = am.roleid
        where g.rolname = %s
        order by m.rolname
        """,
        (GROUP,),
    ).fetchall()
    out = {}
    for (name,) in rows:
        match = _LOGIN.match(name)
        if match:
            out[name] = f"GM{match.group(1)}"
    return out


def _table_exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(format('%%I.%%I', %s::text, %s::text)) is not null",
                        (schema, table)).fetchone()[0]


def _policies(conn: psycopg.Connection, schema: str, table: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "select policyname from pg_policies where schemaname = %s and tablename = %s", (schema, table))}


def apply_policies(conn: psycopg.Connection, schema: str) -> list[str]:
    """Row-level security, the policies and the grants on every protected table present in `schema`.

    Idempotent; run by the owner of the tables (the publisher) or a superuser. Without the roles (and without the
    right to create them) row-level security is still enabled: then only the owner sees rows. Returns the tables.
    """
    if not (_role_exists(conn, GROUP) and _role_exists(conn, ANALIST)) and conn.execute(
            "select rolsuper or rolcreaterole from pg_roles where rolname = current_user").fetchone()[0]:
        ensure_roles(conn)
    readers = [r for r in (GROUP, ANALIST) if _role_exists(conn, r)]
    logins = municipality_logins(conn)
    done = []
    for table in PROTECTED:
        if not _table_exists(conn, schema, table):
            continue
        target = sql.Identifier(schema, table)
        conn.execute(sql.SQL("alter table {} enable row level security").format(target))
        if readers:
            conn.execute(sql.SQL("grant select on {} to {}").format(
                target, sql.SQL(", ").join(map(sql.Identifier, readers))))
        present = _policies(conn, schema, table)
        if ANALIST in readers and "analist_alle_rijen" not in present:
            conn.execute(sql.SQL("create policy analist_alle_rijen on {} for select to {} using (true)").format(
                target, sql.Identifier(ANALIST)))
        for role, code in logins.items():
            if role not in present:
                conn.execute(sql.SQL("create policy {} on {} for select to {} using (gemeente_code = {})").format(
                    sql.Identifier(role), target, sql.Identifier(role), sql.Literal(code)))
        done.append(table)
    return done


@dataclass(frozen=True)
class Login:
    role: str
    gemeente_code: str
    password_file: Path
    created: bool  # False: the login existed and got a new password


def create_municipality_login(conn: psycopg.Connection, gemeente_code: str, secrets_dir: Path,
                              schemas: tuple[str, ...] = ("marts",)) -> Login:
    """Create (or give a new password to) the login of one municipality; its password goes to a 0600 file."""
    role = login_name(gemeente_code)
    code = gemeente_code.strip().upper()
    known = conn.execute("select to_regclass('ref.gemeente_codes') is not null").fetchone()[0]
    if known and conn.execute("select 1 from ref.gemeente_codes where gemeente_code = %s and geldig_tot is null",
                              (code,)).fetchone() is None:
        raise AccessError(f"{code} is not a municipality of today; a login is made for today's codes only.")
    ensure_roles(conn)
    password = secrets.token_urlsafe(24)
    created = not _role_exists(conn, role)
    statement = "create role {} login password {}" if created else "alter role {} with login password {}"
    conn.execute(sql.SQL(statement).format(sql.Identifier(role), sql.Literal(password)))
    conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(GROUP), sql.Identifier(role)))
    for schema in schemas:
        if conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone():
            apply_policies(conn, schema)
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / f"{role}.password"
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(password + "\n", encoding="utf-8")
    return Login(role, code, path, created)
