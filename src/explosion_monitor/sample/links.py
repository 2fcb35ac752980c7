"""Records of other partners that point at police incidents.

Insurer claims and housing reports name a police incident by its id, or only by municipality,
postcode and date (±1 day, an inferable link), or not usably at all.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from random import Random

from explosion_monitor.sample.politie import Inc


class LinkMixin:
    """How a claim or housing report refers to an incident; part of the sample generator."""

    rng: Random
    incidents: list[Inc]

    def _link_fields(self, inc: Inc, mode: str, peil_last: dt.date) -> dict:
        """Municipality, postcode, date and police id of a record about `inc`."""
        rng = self.rng
        if mode == "id":
            day = inc.date + dt.timedelta(1 if rng.random() < 0.1 else 0)
            pc4 = inc.pc4 if rng.random() < 0.85 else ""
            return {"gm": inc.gm, "pc4": pc4, "date": min(day, peil_last), "pid": inc.id}
        if mode == "infer":
            day = inc.date + dt.timedelta(rng.choice([0, 0, 0, 1, 1, -1]))
            return {"gm": inc.gm, "pc4": inc.pc4, "date": min(day, peil_last), "pid": None}
        # no usable link: no police id, and either no postcode or a date well after the incident
        if rng.random() < 0.5:
            return {"gm": inc.gm, "pc4": "", "date": inc.date, "pid": None}
        return {
            "gm": inc.gm,
            "pc4": inc.pc4,
            "date": min(inc.date + dt.timedelta(rng.randint(3, 9)), peil_last),
            "pid": None,
        }

    def _unambiguous(self) -> set[str]:
        """Counted incidents whose (municipality, postcode4, date ±2) is unique: inferable links."""
        by_place: dict[tuple[str, str], list[dt.date]] = defaultdict(list)
        counted = [i for i in self.incidents if i.counted and i.pc4]
        for i in counted:
            by_place[(i.gm, i.pc4)].append(i.date)
        return {i.id for i in counted if sum(abs((d - i.date).days) <= 2 for d in by_place[(i.gm, i.pc4)]) == 1}

    def _link_mode(self, inc: Inc, p_id: float, p_infer: float, inferable: set[str]) -> str:
        x = self.rng.random()
        if x < p_id:
            return "id"
        if x < p_id + p_infer and inc.id in inferable:
            return "infer"
        if x < p_id + p_infer:
            return "id"
        return "none"
