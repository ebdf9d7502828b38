"""Material for tests of hosts, re-exported by :mod:`pluginhost.testing`."""
