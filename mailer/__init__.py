"""Mail machinery with no web framework and no knowledge of members: compose, MIME, outbox,
sender, transports, calendar files, bounces and DKIM."""
