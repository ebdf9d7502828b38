"""Values with no I/O: errors, names, versions and policy, manifests, candidates, problems,
status, events."""
