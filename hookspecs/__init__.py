"""Hook specifications shipped with pluginhost.

- :mod:`hookspecs.lifecycle`: the lifecycle contract every pluginhost host offers its plugins.
- :mod:`hookspecs.greeter`: the demo host's own contract, used by ``pluginhost demo``, the
  tests and the examples.

PYTEST_DONT_REWRITE: imported before pytest parses its arguments by a host started with
pytest, like ``pluginhost`` (whose docstring says why).
"""
