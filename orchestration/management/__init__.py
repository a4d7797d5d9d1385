"""Management commands of the domain app."""
