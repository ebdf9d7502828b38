"""Material for tests of hosts, re-exported by :mod:`pluginhost.testing`.

``wheels`` (the wheel factory), ``archive`` (a wheel's members and bytes), ``hostile`` (the
broken kinds), ``misbehave`` (plugins that misbehave at one stage of their life).
"""
