"""The contract between the composition function and the runtime it deploys.

The function writes what the runtime reads; every fact both halves share is declared once
here and imported by both: the agent definition model (``definition``), the enums of the API
that the runtime also reads (``enums``), the environment variable names and mount paths
(``env``), the tool grants file (``grants``), the queue defaults (``queue``) and the
built-in model prices budgets are counted in (``prices``), the builtin tools' names and
kinds (``builtins``) and the metric names the
runtime exports and the alerts and dashboard query (``metrics``), and task mode's
termination summary (``task``). This package
imports the standard library and pydantic only, never ``function`` or ``runtime``.
"""
