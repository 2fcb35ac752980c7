"""The generated passwords of this checkout, in <root>/.data/secrets.json (mode 0600).

The embedded server's superuser password and the reader logins' passwords live here; warehouse.py writes the
first, schema.py the others.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db import WarehouseError
from explosion_monitor.locks import file_lock


def _secrets_path(settings: Settings) -> Path:
    return settings.data_dir / "secrets.json"


def load_secrets(settings: Settings | None = None) -> dict[str, str]:
    """All generated passwords, by name; empty before the first start."""
    path = _secrets_path(settings or get_settings())
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise WarehouseError(f"Cannot read {path} ({e}); fix or remove it.") from None
    if not isinstance(data, dict):
        raise WarehouseError(f"{path} must hold a JSON object; fix or remove it.")
    return data


def save_secret(settings: Settings | None, name: str, value: str) -> None:
    """Store one generated password in .data/secrets.json, readable by the owner only."""
    settings = settings or get_settings()
    path = _secrets_path(settings)
    with file_lock(settings.data_dir / ".secrets.lock"):
        data = load_secrets(settings)
        data[name] = value
        tmp = path.with_name(f".secrets.{os.getpid()}.tmp")
        # Created 0600 from the start so the password is never readable by others, not even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
