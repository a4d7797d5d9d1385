"""Writes of the domain, one module per entity; functions are ``<entity>_<verb>``,
keyword-only, and run in a transaction.

Callers import a service from the module that defines it; this package re-exports
nothing, so importing one service does not import them all.
"""
