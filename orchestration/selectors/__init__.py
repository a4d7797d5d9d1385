"""Reads of the domain, one module per subject: querysets the API, the admin and
the Suite list from, and typed values (``scenario``: the engine's view of the
database, from the per-process ``network`` snapshot). Nothing here writes.

Callers import a name from the module that defines it; this package re-exports
nothing.
"""
