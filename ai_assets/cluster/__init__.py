"""Running the pipeline on several machines: steps on Celery workers, and a local cluster to try it."""
