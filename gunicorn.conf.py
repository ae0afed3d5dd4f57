# gunicorn reads this file from the folder it starts in (the image's /app, the checkout).
# Graceful stop: on SIGTERM the requests in flight get this long to finish before the workers are killed.
graceful_timeout = 20


def child_exit(server, worker):
    """A web process that ended leaves its metrics files behind; prometheus_client's multiprocess mode
    must be told, or its gauges would count it forever."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_starting(server):
    """Metrics files left by an earlier run of this server would be summed into this one's: start empty."""
    import glob
    import os

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for path in glob.glob(os.path.join(folder, "*.db")):
            os.remove(path)
