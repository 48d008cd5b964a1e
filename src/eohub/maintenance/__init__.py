"""Keeping catalogue and archive consistent (fsck)."""
