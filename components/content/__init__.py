"""Article text as dense vectors: applied with numpy (`vectors`), fitted with scikit-learn (`fit`)."""
