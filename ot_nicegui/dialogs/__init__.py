"""Dialogs opened from the tabs; each `open_<name>_dialog(session, ...)` opens one and returns it."""
