"""Staff accounts, the audit log, API tokens and webhooks."""
