"""Template tags of the Suite (``{% load suite %}``)."""
