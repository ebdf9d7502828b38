"""The host: settings, the engine that applies plans, the worker, and PluginHost itself."""
