"""Members and their consent: registration, confirmation, preferences, imports, audiences."""
