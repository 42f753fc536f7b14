"""MLflow tracking and registry: runs with lineage, the quality gate, and lineage lookups."""
