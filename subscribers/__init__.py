"""The network's members and their mail: domain services, the web app and the CLI."""
