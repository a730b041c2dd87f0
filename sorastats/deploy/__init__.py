"""`build.py deploy`: the live site to an S3-compatible bucket (docs/deploy.md).

`plan.py` decides (pure), `bucket.py` talks to the store, `deploy.py` runs a deploy or a
rollback and returns a `DeployResult`."""
