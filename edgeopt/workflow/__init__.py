"""Workflows that join rooms: a search whose fronts are compressed (`search --compress`)."""
