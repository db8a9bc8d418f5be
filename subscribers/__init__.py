"""The network's members and their mail: domain services, the web app and the CLI."""

from pathlib import Path

# The data folders shipped inside the package, named once for the modules of every sub-package.
PACKAGE = Path(__file__).resolve().parent
CATALOGUES = PACKAGE / "translations"
MIGRATIONS = PACKAGE / "migrations"
