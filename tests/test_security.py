"""web/security.py's body limit on its own, around a plain WSGI app: what reaches Dash and what does not."""
from __future__ import annotations

import io
import threading

from werkzeug.test import Client

from styletransfer.web.security import CallbackBodyLimit

PATH = "/_dash-update-component"


def recording_app(seen: list, gate: threading.Event | None = None):
    def app(environ, start_response):
        seen.append(environ["wsgi.input"].read())
        if gate is not None and len(seen[-1]) > 2**20:  # a large body stays in the app until the gate opens
            gate.wait(10)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]
    return app


def test_the_body_reaches_the_app_whole_and_with_its_length():
    seen = []
    client = Client(CallbackBodyLimit(recording_app(seen), max_bytes=10 * 2**20))
    body = b'{"output": "' + b"x" * (3 * 2**20) + b'"}'
    assert client.post(PATH, data=body, content_type="application/json").status_code == 200
    r = client.post(PATH, input_stream=io.BytesIO(body), content_type="application/json",
                    environ_overrides={"wsgi.input_terminated": True})  # chunked: no length
    assert r.status_code == 200 and seen == [body, body]


def test_over_the_size_or_the_values_is_413_before_the_app():
    seen = []
    client = Client(CallbackBodyLimit(recording_app(seen), max_bytes=2**20, max_values=100))
    r = client.post(PATH, data=b'"' + b"x" * (2**20 + 10) + b'"', content_type="application/json")
    assert r.status_code == 413 and "limit of 1 MB a request" in r.get_json()["error"]
    r = client.post(PATH, data=b"[" + b"1," * 200 + b"1]", content_type="application/json")
    assert r.status_code == 413 and "more than 100 values" in r.get_json()["error"]
    assert client.post("/elsewhere", data=b"[" + b"1," * 200 + b"1]").status_code == 200  # only callbacks
    assert len(seen) == 1


def test_large_bodies_are_taken_one_budget_at_a_time():
    seen, gate = [], threading.Event()
    limit = CallbackBodyLimit(recording_app(seen, gate), max_bytes=3 * 2**20)
    limit.WAIT_S = 0.3
    large = b'"' + b"x" * (2 * 2**20) + b'"'
    first = threading.Thread(target=lambda: Client(limit).post(PATH, data=large))
    first.start()
    while not seen:  # the first is inside the app, holding its share of the budget
        threading.Event().wait(0.01)
    r = Client(limit).post(PATH, data=large)
    assert r.status_code == 503 and r.headers["Retry-After"] == "5" and "busy" in r.get_json()["error"]
    assert Client(limit).post(PATH, data=b"{}").status_code == 200       # small bodies never wait…
    gate.set()
    first.join()
    assert Client(limit).post(PATH, data=large).status_code == 200       # …and the share comes back
