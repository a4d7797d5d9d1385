"""The REST API: DRF views over services and selectors, documented with OpenAPI."""
