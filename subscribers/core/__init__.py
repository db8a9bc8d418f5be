"""What every part stands on: settings, the database and its models, errors, times, tokens."""
