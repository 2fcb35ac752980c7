"""`explosion-monitor docs`: the dbt docs site and the GX Data Docs side by side in reports/docs/, one index.

- reports/docs/dbt/index.html: `dbt docs generate --static` (one file with the manifest and the catalog inside,
  so it opens from disk without a web server), in a target folder of its own;
- reports/docs/gx/: a copy of the Great Expectations Data Docs site (every suite, the newest validations);
- reports/docs/index.html: links to both, the suites with their level, and the newest publication.
"""

from __future__ import annotations

import datetime as dt
import html
import shutil
import tempfile
from pathlib import Path

from explosion_monitor.config import Settings, get_settings


class DocsError(RuntimeError):
    """The docs could not be built; the message is one sentence."""


def _dbt_site(settings: Settings, url: str | None, dest: Path) -> None:
    from explosion_monitor import transform

    with tempfile.TemporaryDirectory(prefix="em-dbt-docs-") as target:
        res, _ = transform.run_dbt(["docs", "generate", "--static"], settings, url, role=False,
                                   target_dir=Path(target))  # fmt: skip
        static = Path(target) / "static_index.html"
        if not res.success or not static.is_file():
            raise DocsError(f"dbt docs generate failed: {' '.join(str(res.exception).split())[:300]}.")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(static, dest / "index.html")


def _gx_site(settings: Settings, dest: Path) -> None:
    from explosion_monitor import quality

    index = quality.data_docs_index(settings)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(index.parent, dest)


def _publication(settings: Settings, url: str | None) -> str:
    from explosion_monitor import publish

    try:
        current = publish.current_publication(settings, url)
    except Exception:
        current = None
    if not current:
        return "nothing published yet"
    return ", ".join(f"{k} {html.escape(str(v))}" for k, v in current.items())


def build_docs(settings: Settings | None = None, url: str | None = None) -> Path:
    """Build reports/docs/ and return its index.html."""
    from explosion_monitor import quality

    settings = settings or get_settings()
    root = settings.reports_dir / "docs"
    _dbt_site(settings, url, root / "dbt")
    _gx_site(settings, root / "gx")
    suites = "\n".join(
        f"<li><code>{html.escape(s.name)}</code> ({s.level}): {html.escape(s.description)}</li>"
        for s in quality.load_suites(settings).values()
    )
    page = f"""<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>explosion-monitor: documentatie</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} li{{margin:.3em 0}}</style></head>
<body>
<h1>explosion-monitor: lineage and data quality</h1>
<p>Built {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Publication: {_publication(settings, url)}.</p>
<ul>
<li><a href="dbt/index.html">dbt docs</a>: every model, its columns, tests and lineage (sources, staging,
intermediate, marts, open data, exposures such as the dashboard Voortgang Offensief).</li>
<li><a href="gx/index.html">Great Expectations Data Docs</a>: the quality gate's suites and their newest
validations.</li>
</ul>
<h2>Suites of the quality gate</h2>
<ul>
{suites}
</ul>
</body></html>
"""
    (root / "index.html").write_text(page, encoding="utf-8")
    return root / "index.html"
