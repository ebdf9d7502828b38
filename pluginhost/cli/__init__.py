"""The command line: ``main.py`` holds the parser, ``commands/`` one module per command.

What the commands share: ``common.py`` (exit codes, output, ``--home``), ``home.py`` (reading a
host's home without changing it) and ``build.py`` (the PEP 517 frontend that builds the demo's
wheels).
"""
