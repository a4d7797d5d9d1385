"""Tests of the pure sheet language."""
