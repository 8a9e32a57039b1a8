"""The on-device gallery: a SQLite file of people and their embeddings, and matching."""
