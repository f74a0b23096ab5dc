"""Batches: one loaded workflow run once per plan entry (a set of parameter values), in this process
or fanned out over the workers of a Ray cluster.

Every run goes through the same path as ``latent-studio run`` (``Session.enqueue`` then
``Session.execute``) on a worker that holds its own session, executor cache and model manager; the
worker returns the files it wrote as bytes and the driver writes them into the output folder. Ray is
an optional extra (``latent-studio[cluster]``), imported only by ``studio.batch.ray_pool`` and only
when a Ray cluster is asked for. Nothing here imports Qt.
"""
