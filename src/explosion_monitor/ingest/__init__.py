"""Parse, validate and load partner deliveries (leveringen).

- `pending`: every file now in incoming/, one after the other (`ingest_pending`);
- `load`: one file, checked and copied into raw in one transaction, or quarantined with its report
  (`ingest_object`);
- `intake`: which files are complete; `sniff`, `xlsx`, `batches`, `arrays`, `pgcopy`: reading a file into COPY
  batches; `validate`, `check`, `keys`: the contract's checks; `report`: the quality report; `header_help`:
  hints for a header that does not match.
"""
