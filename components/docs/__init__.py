"""Generated blocks inside hand-written documents (README tables from code)."""
