"""Management commands: demo, purge_orchestration_details, ..."""
