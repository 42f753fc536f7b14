"""Offline evaluation: splits (`splits`, pandas) and ranking metrics (`metrics`, numpy only)."""
