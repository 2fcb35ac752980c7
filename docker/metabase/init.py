"""Metabase setup through its API (the metabase-init service; standard library only, idempotent).

1. Wait until Metabase answers /api/health.
2. First start: create the admin from MB_ADMIN_EMAIL / MB_ADMIN_PASSWORD with the setup token
   (POST /api/setup). Later starts: log in (POST /api/session).
3. Add the warehouse as the database "Explosion monitor" connecting as bi_reader, limited to the schemas
   marts and open_data (POST /api/database), unless a database of that name exists.

By hand, the same in the UI: Admin settings > Databases > Add database > PostgreSQL; host `postgres`,
port 5432, database `explosion_monitor`, user `bi_reader` with BI_READER_PASSWORD; under "Schemas",
"Only these..." `marts,open_data`.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

BASE = os.environ.get("MB_URL", "http://metabase:3000").rstrip("/")
NAME = "Explosion monitor"


def call(method: str, path: str, body: dict | None = None, session: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if session:
        headers["X-Metabase-Session"] = session
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode() or "{}"
    return json.loads(text)


def wait_until_healthy(timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if call("GET", "/api/health").get("status") == "ok":
                return
        except (OSError, ValueError):
            pass
        time.sleep(5)
    sys.exit("Metabase did not become healthy in time.")


def session() -> str:
    email, password = os.environ["MB_ADMIN_EMAIL"], os.environ["MB_ADMIN_PASSWORD"]
    props = call("GET", "/api/session/properties")
    if not props.get("has-user-setup"):
        result = call("POST", "/api/setup", {
            "token": props["setup-token"],
            "user": {"email": email, "password": password, "first_name": "Data", "last_name": "Engineering",
                     "site_name": "Offensief tegen explosies"},
            "prefs": {"site_name": "Offensief tegen explosies", "site_locale": "nl", "allow_tracking": False},
        })
        return result["id"]
    return call("POST", "/api/session", {"username": email, "password": password})["id"]


def main() -> None:
    wait_until_healthy()
    token = session()
    databases = call("GET", "/api/database", session=token)
    existing = databases.get("data", databases) if isinstance(databases, dict) else databases
    if any(db.get("name") == NAME for db in existing):
        print(f"Metabase already has the database {NAME!r}.")
        return
    call("POST", "/api/database", {
        "engine": "postgres",
        "name": NAME,
        "details": {
            "host": os.environ.get("BI_DB_HOST", "postgres"),
            "port": int(os.environ.get("BI_DB_PORT", "5432")),
            "dbname": os.environ.get("BI_DB_NAME", "explosion_monitor"),
            "user": "bi_reader",
            "password": os.environ["BI_READER_PASSWORD"],
            "ssl": False,
            "schema-filters-type": "inclusion",
            "schema-filters-patterns": "marts,open_data",
        },
        "is_full_sync": True,
    }, session=token)
    print(f"Metabase connects to the marts as bi_reader ({NAME!r}).")


if __name__ == "__main__":
    try:
        main()
    except urllib.error.HTTPError as exc:
        sys.exit(f"Metabase API error {exc.code}: {exc.read().decode(errors='replace')[:500]}")
