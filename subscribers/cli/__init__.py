"""The `newsletter` command: one module per command group, loaded lazily where slow."""
