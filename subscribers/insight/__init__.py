"""What staff learn from sending: clicks, complaints, deliverability, growth."""
