"""reco pipelines: Metaflow flows and batch jobs, thin edges over the components."""
