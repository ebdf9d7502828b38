"""Files to candidates: wheel reading and validation, trust screening, sources, the folder watch."""
