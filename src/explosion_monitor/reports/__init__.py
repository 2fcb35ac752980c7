"""The reports, read from the published marts only (never raw or the build schema).

- `landelijk`: reports/target_progress.html, progress on the Offensief's target for the mayors (and the
  console table `explosion-monitor run` prints);
- `gemeente`: reports/gemeenten/<GMxxxx>.html, one page per local triangle;
- `wat_werkt`: the section *Wat werkt* and reports/netwerk_wat_werkt.html for the VNG network;
- `lopend_jaar`: the running year's status and forecast, in plain Dutch;
- `common`: Dutch number and date formatting, the publication the marts come from, the page templates.
"""
