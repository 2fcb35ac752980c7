"""Metabase setup through its API (the metabase-init service; standard library only, idempotent).

1. Wait until Metabase answers /api/health.
2. First start: create the admin from MB_ADMIN_EMAIL / MB_ADMIN_PASSWORD with the setup token
   (POST /api/setup). Later starts: log in (POST /api/session).
3. Add the warehouse as the database "Explosion monitor" connecting as bi_reader, limited to the schemas
   marts and open_data (POST /api/database), unless a database of that name exists.
4. The dashboard as code (dashboard.json, questions/<slug>.sql next to this file): the collection, one native
   SQL question per file and the dashboard "Voortgang Offensief" with its cards; found by name and updated
   when they exist, so a rerun applies edits. A question whose `requires` table is not published yet is left
   out until a later run. tests/test_metabase_dashboard.py runs every question's SQL as bi_reader.

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
from pathlib import Path

BASE = os.environ.get("MB_URL", "http://metabase:3000").rstrip("/")
NAME = "Explosion monitor"
HERE = Path(__file__).resolve().parent


def definition() -> dict:
    """dashboard.json with each question's SQL read from questions/<slug>.sql."""
    spec = json.loads((HERE / "dashboard.json").read_text(encoding="utf-8"))
    for question in spec["questions"]:
        question["sql"] = (HERE / "questions" / f"{question['slug']}.sql").read_text(encoding="utf-8")
    return spec


def card_payload(question: dict, database_id: int, collection_id: int) -> dict:
    """POST/PUT /api/card body of a native SQL question."""
    return {
        "name": question["name"],
        "description": question.get("description") or question["sql"].splitlines()[0].lstrip("- ").strip(),
        "display": question.get("display", "table"),
        "visualization_settings": question.get("visualization_settings", {}),
        "collection_id": collection_id,
        "dataset_query": {"type": "native", "database": database_id, "native": {"query": question["sql"]}},
    }


def dashcards(cards: dict[str, int], spec: dict) -> list[dict]:
    """PUT /api/dashboard/:id `dashcards`: new cards get negative ids, as Metabase's own client sends them."""
    out = []
    for n, question in enumerate(q for q in spec["questions"] if q["slug"] in cards):
        out.append({"id": -(n + 1), "card_id": cards[question["slug"]], **question["layout"],
                    "parameter_mappings": [], "visualization_settings": {}})
    return out


def _by_name(items: object, name: str) -> dict | None:
    rows = items.get("data", items) if isinstance(items, dict) else items
    return next((i for i in rows or [] if i.get("name") == name and not i.get("archived")), None)


def _table_exists(token: str, database_id: int, qualified: str) -> bool:
    schema, table = qualified.split(".", 1)
    meta = call("GET", f"/api/database/{database_id}/metadata", session=token)
    return any(t.get("schema") == schema and t.get("name") == table for t in meta.get("tables", []))


def dashboard_as_code(token: str, database_id: int) -> str:
    spec = definition()
    collection = _by_name(call("GET", "/api/collection", session=token), spec["collection"]["name"])
    if collection is None:
        collection = call("POST", "/api/collection", dict(spec["collection"]), session=token)
    existing = call("GET", f"/api/collection/{collection['id']}/items?models=card&models=dashboard", session=token)
    cards: dict[str, int] = {}
    for question in spec["questions"]:
        if question.get("requires") and not _table_exists(token, database_id, question["requires"]):
            print(f"Left out {question['name']!r}: {question['requires']} is not published yet.")
            continue
        body = card_payload(question, database_id, collection["id"])
        found = _by_name(existing, question["name"])
        card = (call("PUT", f"/api/card/{found['id']}", body, session=token) if found
                else call("POST", "/api/card", body, session=token))
        cards[question["slug"]] = card["id"]
    board = _by_name(existing, spec["dashboard"]["name"])
    if board is None:
        board = call("POST", "/api/dashboard", {"name": spec["dashboard"]["name"],
                     "description": spec["dashboard"]["description"], "collection_id": collection["id"]},
                     session=token)  # fmt: skip
    call("PUT", f"/api/dashboard/{board['id']}", {"dashcards": dashcards(cards, spec)}, session=token)
    return spec["dashboard"]["url_pattern"].replace("http://127.0.0.1:3000", BASE).format(id=board["id"])


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
    found = next((db for db in existing if db.get("name") == NAME), None)
    if found:
        print(f"Metabase already has the database {NAME!r}.")
    else:
        found = _add_database(token)
    call("POST", f"/api/database/{found['id']}/sync_schema", {}, session=token)
    print(f"Dashboard: {dashboard_as_code(token, found['id'])}")


def _add_database(token: str) -> dict:
    database = call("POST", "/api/database", {
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
    return database


if __name__ == "__main__":
    try:
        main()
    except urllib.error.HTTPError as exc:
        sys.exit(f"Metabase API error {exc.code}: {exc.read().decode(errors='replace')[:500]}")
