"""The data-resource catalogue, access requests and grants (issue 5)."""
