"""web/security.py's body limit on its own, around a plain WSGI app: what reaches Dash and what does not."""
from __future__ import annotations

import io

from werkzeug.test import Client

from styletransfer.web.security import CallbackBodyLimit

PATH = "/_dash-update-component"


def recording_app(seen: list):
    def app(environ, start_response):
        seen.append(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]
    return app


def test_the_body_reaches_the_app_whole_and_with_its_length():
    seen = []
    client = Client(CallbackBodyLimit(recording_app(seen), max_bytes=256 * 1024))
    body = b'{"output": "' + b"x" * (200 * 1024) + b'"}'
    assert client.post(PATH, data=body, content_type="application/json").status_code == 200
    r = client.post(PATH, input_stream=io.BytesIO(body), content_type="application/json",
                    environ_overrides={"wsgi.input_terminated": True})  # chunked: no length
    assert r.status_code == 200 and seen == [body, body]


def test_over_the_size_or_the_values_is_413_before_the_app():
    seen = []
    client = Client(CallbackBodyLimit(recording_app(seen), max_bytes=256 * 1024, max_values=100))
    r = client.post(PATH, data=b'"' + b"x" * (256 * 1024 + 10) + b'"', content_type="application/json")
    assert r.status_code == 413 and "limit of 256 KB for what the page sends" in r.get_json()["error"]
    r = client.post(PATH, input_stream=io.BytesIO(b'"' + b"x" * 2**20 + b'"'), content_type="application/json",
                    environ_overrides={"wsgi.input_terminated": True})  # chunked: counted as it streams
    assert r.status_code == 413
    r = client.post(PATH, data=b"[" + b"1," * 200 + b"1]", content_type="application/json")
    assert r.status_code == 413 and "more than 100 values" in r.get_json()["error"]
    assert client.post("/elsewhere", data=b"[" + b"1," * 200 + b"1]").status_code == 200  # only callbacks
    assert len(seen) == 1
