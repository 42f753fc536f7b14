"""reco's Feast feature repository: the one definition of every feature."""
