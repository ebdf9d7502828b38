"""Material for tests of hosts, re-exported by :mod:`pluginhost.testing`.

``wheels`` (the wheel factory), ``archive`` (a wheel's members and bytes), ``hostile`` (the
broken kinds), ``misbehave`` (plugins that misbehave at one stage of their life); and, imported
by the tests that need them (not re-exported, so that pytest's start stays light), ``indexes``
(devpi-server and pypiserver on loopback) and ``static_index`` (a static index with yanks,
ETags and faults).
"""
