"""web/sessions.py: the embedded default's session secret, made once and shared by every process."""
import multiprocessing
import os
import stat

from styletransfer.web.sessions import stored_secret


def _secret_after(state_dir, start):
    start.wait()
    return stored_secret(state_dir)


def test_processes_starting_at_once_on_a_fresh_state_dir_share_one_whole_secret(tmp_path):
    # gunicorn's workers boot together: none may fail on the file another is creating, or read it half written
    ctx = multiprocessing.get_context("fork")
    start = ctx.Manager().Event()
    with ctx.Pool(8) as pool:
        pending = [pool.apply_async(_secret_after, (str(tmp_path / "state"), start)) for _ in range(8)]
        start.set()
        secrets_read = {p.get(timeout=30) for p in pending}
    assert len(secrets_read) == 1 and len(secrets_read.pop()) >= 48
    assert os.listdir(tmp_path / "state") == ["secret"]  # no candidate left beside it
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "secret").st_mode) == 0o600
    assert stored_secret(str(tmp_path / "state")) == stored_secret(str(tmp_path / "state"))  # kept across restarts
