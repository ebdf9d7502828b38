"""The import machinery: the finder, guarded imports on helper threads, imports ahead."""
