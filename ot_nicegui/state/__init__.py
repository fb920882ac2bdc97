"""Process-wide state shared by every browser client."""
