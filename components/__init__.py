"""reco components: libraries, one package per concept."""
