"""Files to candidates: wheel reading and validation, trust screening, sources, the folder watch;
and the report of one wheel checked without installing it (report)."""
