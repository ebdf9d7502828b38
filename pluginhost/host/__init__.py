"""The host: settings, the engine that applies plans, the worker, and PluginHost itself; and
what another process reads of a home (homeview, snapshot, doctor)."""
