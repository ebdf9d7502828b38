"""What survives a crash: the file operations, the atomic store, the registry, the audit log."""
