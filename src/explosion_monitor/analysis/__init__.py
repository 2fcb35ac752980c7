"""The analysis run: statistics on the published count, published after it so they never delay it.

The count (dbt build, quality gate, publication of `marts`) stays as fast as it is. After every publication
the `analysis` DAG (and `explosion-monitor run`, after the warehouse DAG) runs every registered step:

1. `runner.run_analysis` creates a fresh build schema `analysis_build` and runs each step of `steps.STEPS`;
   a step reads the published `marts` and writes its tables into the build schema;
2. the blocking suites in `expectations/analysis/` (GX, `quality.run_gate`) validate the build schema;
3. `publication.publish_tables` moves only the analysis tables into `marts`, all of them in one transaction
   (rows replaced in place, so grants and row-level security policies stay), with `marts.analyse_publicatie`
   saying which run and which count publication they come from;
4. every run is a row in `ops.analysis_log`: steps, seconds, rows, failed checks, outcome.

The count's publication (`publish.py`) carries the published analysis tables forward into the new `marts`
(`publication.carry_forward`), so a count publication never drops them.

Modules: `steps` (the registry), `runner`, `publication`, and one module per step (`prognose`, `near_repeat`,
`hotspots`, `nazorg_duur`).
"""
