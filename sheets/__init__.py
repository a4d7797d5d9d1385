"""The sheets browser app (its pages come in a later issue)."""
