"""gridhub: the shared-data hub of a city district, served through one GraphQL API."""

__version__ = "0.1.0"
