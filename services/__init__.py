"""reco services: long-running processes, thin edges over the components."""
