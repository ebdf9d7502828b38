"""One module per command of ``pluginhost``, each with ``run(args) -> exit code``.

:mod:`pluginhost.cli.main` imports a command's module only when that command runs.
"""
