"""The command line: ``main.py`` holds the parser, ``commands/`` one module per command.

What the commands share: ``common.py`` (exit codes, output, JSON documents, ``--home``),
``pipe.py`` (stdout whose reader may leave), ``completion.py`` (shell completion generated from
the parser) and ``build.py`` (the PEP 517 frontend that builds the demo's wheels). What they
read from a home comes from the public values of ``host/`` and ``discover/``
(``HostSnapshot``, ``Diagnosis``, ``WheelReport``).
"""
