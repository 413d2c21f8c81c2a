"""Turns (context, arguments) into SQLAlchemy queries; per-request DataLoaders batch them."""
