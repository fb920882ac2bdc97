"""Pages of the app other than the main one."""
