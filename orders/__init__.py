"""The orders browser app: orders and their timeline, shops' tasks, failed exports."""
