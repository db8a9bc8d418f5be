"""Lists, news, announcements, digests and the mails they become."""
