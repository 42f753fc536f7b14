"""Online features without Feast: reco's codec of the rows Feast materializes (layout), the
async reader the recommend service uses (reader) and Feast's repo configuration as plain values
(repo). Builds in both resolves; Feast itself stays in components/features (pipelines)."""
