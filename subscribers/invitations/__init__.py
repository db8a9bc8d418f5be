"""Events: invitations with calendar files, RSVP and reminders."""
