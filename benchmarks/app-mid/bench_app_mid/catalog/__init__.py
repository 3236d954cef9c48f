"""A small catalog of books: models, their admin and a REST API."""
