"""The JSON API on its own, and forged requests to the page's callbacks: a message, never a 500."""
from __future__ import annotations

import io
import itertools
import json
import math
import re
import time

import pytest
from PIL import Image

from media import video_frames
from styletransfer.jobs import LocalJobs
from styletransfer.limits import Limits
from styletransfer.web import create_app


def png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def app():
    manager = LocalJobs(devices=["cpu"], limits=Limits(max_upload_bytes=2 * 2**20, frame_interval=0.0), nice=0)
    app = create_app(jobs=manager, quick=False, secret="test-secret")
    yield app
    manager.shutdown()


VISITORS = itertools.count(1)


@pytest.fixture
def client(app):
    """A new visitor: its own cookies and its own address (the server caps and rate-limits per address)."""
    client = app.server.test_client()
    n = next(VISITORS)
    client.environ_base["REMOTE_ADDR"] = f"10.0.{n // 250}.{n % 250 + 1}"
    return client


def submit(client, content_image, style_image, settings=None, extra=None):
    data = {"content": (io.BytesIO(png(content_image)), "photo.png"),
            "style": [(io.BytesIO(png(style_image)), "painting.png")],
            "settings": json.dumps(settings if settings is not None else {"size": 48, "iterations": 300})}
    data.update(extra or {})
    data = {k: v for k, v in data.items() if v is not None}  # None: leave that field out
    return client.post("/api/jobs", data=data, content_type="multipart/form-data")


def wait_status(client, job_id, statuses, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job never reached {statuses}")


def test_submit_steer_cancel_and_download_through_the_api(client, content_image, style_image):
    r = submit(client, content_image, style_image)
    assert r.status_code == 201, r.get_json()
    job = r.get_json()
    assert r.headers["Location"] == f"/api/jobs/{job['id']}" and job["urls"]["self"] == r.headers["Location"]
    assert job["settings"]["size"] == 48 and job["status"] in ("queued", "running")
    wait_status(client, job["id"], ("running",))
    r = client.post(job["urls"]["weights"], json={"style_weight": 123.0})
    assert r.status_code == 200 and r.get_json()["weights"]["style_weight"] == 123.0
    r = client.post(job["urls"]["weights"], json={"style_weight": math.inf})
    assert r.status_code == 400 and "finite" in r.get_json()["error"]
    r = client.post(job["urls"]["weights"], json={"size": 1024})
    assert r.status_code == 400 and "cannot be changed while running" in r.get_json()["error"]
    assert client.post(job["urls"]["cancel"]).status_code == 200
    done = wait_status(client, job["id"], ("stopped",))
    r = client.post(job["urls"]["weights"], json={"style_weight": 5.0})
    assert r.status_code == 409 and "can no longer change" in r.get_json()["error"]
    urls = done["urls"]
    assert client.get(urls["result"]).data[:4] == b"\x89PNG"
    assert video_frames(client.get(urls["timelapse"]).data) >= 1
    assert client.get(urls["frame"]).headers["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("method,path", [("GET", "/api/jobs/x/cancel"), ("PUT", "/api/jobs"),
                                         ("DELETE", "/api/jobs/x"), ("GET", "/api/jobs/x/weights")])
def test_wrong_methods_get_json_405_not_the_page(client, method, path):
    r = client.open(path, method=method)
    assert r.status_code == 405 and r.is_json and "not allowed" in r.get_json()["error"]
    assert "Allow" in r.headers


PDF = (b"%PDF-1.4\n%%EOF", "doc.pdf")
PANORAMA = (png(Image.new("RGB", (4000, 60))), "panorama.png")


@pytest.mark.parametrize("settings,form,status,message", [
    ({}, {"content": None}, 400, "add the content image"),
    ({}, {"content": PDF}, 400, "PDF document"),
    ({}, {"settings": "{size: 48"}, 400, "settings must be a JSON object"),
    ({}, {"settings": "[48]"}, 400, "settings must be a JSON object"),
    ({"colour": "blue"}, {}, 400, "unknown setting 'colour'"),
    ({"size": 1e308}, {}, 400, "size must be between"),
    ({}, {"settings": '{"style_weight": NaN}'}, 400, "finite"),
    ({"style_weight": "lots"}, {}, 400, "style_weight must be a number"),
    ({"backbone": "/etc/passwd.pt"}, {}, 400, "unknown backbone"),
    ({"size": 512}, {"content": PANORAMA}, 400, "too narrow"),
    ({"iterations": 10**5 - 1}, {}, 400, "over this server's limit"),
    ({"size": 4096}, {}, 400, "size must be between 16 and 1024 px on this server"),
    ({"size": 100000}, {}, 400, "size must be between 16 and 1024 px on this server"),
], ids=["no-content", "pdf", "not-json", "list", "unknown", "huge", "nan", "string", "path", "panorama",
        "over-limit", "over-server-size", "over-any-size"])
def test_bad_input_to_the_api_is_json_4xx_and_makes_no_job(client, content_image, style_image, settings, form,
                                                            status, message):
    """Each case changes the settings or one form field (None leaves the field out) of a good request."""
    files = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in form.items()}
    r = submit(client, content_image, style_image, {"size": 48, "iterations": 3, **settings}, files)
    assert r.status_code == status and r.is_json, (r.status_code, r.data[:200])
    assert message in r.get_json()["error"]
    assert client.get("/api/jobs").get_json() == []


def test_uploads_over_the_limits_are_json_413_or_400(client, style_image):
    def send(megabytes):
        return client.post("/api/jobs", data={"content": (io.BytesIO(b"x" * int(megabytes * 2**20)), "big.png"),
                                              "style": (io.BytesIO(png(style_image)), "s.png")},
                           content_type="multipart/form-data")

    r = send(12)  # over the whole request's cap
    assert r.status_code == 413 and "over this server's limit of 2 MB" in r.get_json()["error"]
    r = send(3)   # within the request's cap, over one file's limit
    assert r.status_code == 400 and "big.png: over the upload limit of 2 MB" in r.get_json()["error"]


def test_another_session_gets_json_404_for_everything(app, client, content_image, style_image):
    job = submit(client, content_image, style_image, {"size": 48, "iterations": 2}).get_json()
    job = wait_status(client, job["id"], ("done",))
    stranger = app.server.test_client()
    stranger.set_cookie("studio_session", "made-up-by-the-client-0123456789")
    for path in (job["urls"]["self"], job["urls"]["result"], job["urls"]["timelapse"], job["urls"]["frame"]):
        assert stranger.get(path).status_code == 404
    for path in (job["urls"]["cancel"], job["urls"]["weights"]):
        r = stranger.post(path, json={"style_weight": 1.0})
        assert r.status_code == 404 and r.get_json()["error"] == "no such job in this session"
    assert stranger.get("/api/jobs").get_json() == []


# ------------------------------------------------------------------ forged requests to the page's callbacks

def callback(client, app, first_input: str, inputs: list, state: dict):
    """POST to Dash's endpoint exactly as the page would for the server callback with these inputs."""
    deps = client.get("/_dash-dependencies").get_json()
    names = [f"{i['id']}.{i['property']}" for i in inputs]
    dep = next(d for d in deps if [f"{i['id']}.{i['property']}" for i in d["inputs"]] == names
               and d.get("clientside_function") is None)
    outputs = [{"id": p.split(".", 1)[0], "property": p.split(".", 1)[1]} for p in dep["output"].strip(".").split("...")]
    if not dep["output"].startswith(".."):
        outputs = outputs[0]  # a single output travels as an object, as the page sends it
    body = {"output": dep["output"], "outputs": outputs, "inputs": inputs,
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs],
            "state": [{**s, "value": state.get(f"{s['id']}.{s['property']}")} for s in dep["state"]]}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


def upload(client, data: bytes, name: str = "p.png"):
    """A file sent as the page's uploads.js sends it."""
    return client.post("/api/uploads", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def page_state(client, content_image, style_image, **changes):
    """What the page's Start sends: the uploads' addresses (the files went to /api/uploads first) and the controls."""
    state = {"content-upload.contents": upload(client, png(content_image)).get_json()["url"],
             "style-upload.contents": upload(client, png(style_image)).get_json()["url"], "style-blend.value": 0.5,
             "content-weight.value": 0, "style-weight.value": 1, "tv-weight.value": 0.5, "size.value": 256,
             "iterations.value": 0, "quality-stops.data": [5, 10, 25, 50], "backbone.value": "vgg19", "optimizer.value": "lbfgs",
             "options.value": ["multiscale"]}
    state.update(changes)
    return state


def test_an_upload_is_kept_for_its_session_and_named_by_its_address(client, app, content_image):
    r = upload(client, png(content_image), "cat.png")
    assert r.status_code == 201, r.data[:300]
    answer = r.get_json()
    assert (answer["name"], answer["width"], answer["height"]) == ("cat.png", *content_image.size)
    preview = client.get(answer["url"])
    assert preview.status_code == 200 and preview.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(preview.data)).size == content_image.size  # small already: not scaled
    stranger = app.server.test_client()
    assert stranger.get(answer["url"]).status_code == 404  # another session's upload does not exist


def test_a_photo_of_a_real_size_goes_through_both_multipart_routes(client):
    """Files of a megabyte, not only thumbnails: the form's own limits must not catch a file."""
    photo = png(Image.effect_noise((600, 500), 80).convert("RGB"))
    assert 2**20 // 2 < len(photo) < 2 * 2**20
    r = upload(client, photo, "photo.png")
    assert r.status_code == 201, r.get_json()
    r = client.post("/api/jobs", data={"content": (io.BytesIO(photo), "photo.png"),
                                       "style": [(io.BytesIO(photo), "painting.png")],
                                       "settings": json.dumps({"size": 48, "iterations": 2})},
                    content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    wait_status(client, r.get_json()["id"], ("done",))


@pytest.mark.parametrize("data,status,message", [
    (b"x" * (2 * 2**20 + 1), 413, "big.png: over the upload limit of 2 MB"),
    (b"not an image", 400, "big.png: not an image file"),
    (None, 400, "add the file image"),
])
def test_a_bad_upload_is_one_json_message(client, data, status, message):
    r = upload(client, data, "big.png") if data is not None else client.post("/api/uploads", data={})
    assert r.status_code == status and message in r.get_json()["error"]


def test_a_callback_carrying_an_image_is_refused_before_dash_reads_it(client, app, content_image, style_image):
    """Only the uploads' addresses travel in callbacks: an image inside one (as base64) is over the limit."""
    import base64

    big = Image.effect_noise((400, 400), 64).convert("RGB")
    data_url = "data:image/png;base64," + base64.b64encode(png(big)).decode()
    r = callback(client, app, "start-button.n_clicks", [{"id": "start-button", "property": "n_clicks", "value": 1}],
                 page_state(client, content_image, style_image, **{"content-upload.contents": data_url}))
    assert r.status_code == 413 and "limit of 256 KB" in r.get_json()["error"]


@pytest.mark.parametrize("changes,message", [
    ({"size.value": 1e308}, "size must be between"),
    ({"size.value": "512"}, "size must be a number"),
    ({"size.value": -5}, "size must be between"),
    ({"iterations.value": 10**9}, "quality must be one of the Quality slider's points"),
    ({"iterations.value": 1.5}, "quality must be one of the Quality slider's points"),
    ({"quality-stops.data": [10**9]}, "iterations must be between"),
    ({"style-weight.value": 1e308}, "style_weight must be between"),
    ({"style-weight.value": "NaN"}, "style_weight must be a number"),
    ({"content-weight.value": None}, "content_weight is required"),
    ({"optimizer.value": "sgd"}, "unknown optimizer"),
    ({"backbone.value": "/etc/passwd.pt"}, "unknown backbone"),
    ({"options.value": "multiscale"}, None),  # a string where a list belongs: treated as no options
    ({"style2-upload.contents": "data:image/png;base64,AAAA"}, "the second painting is no longer on the server"),
    ({"style2-upload.contents": "/api/uploads/AAAAAAAAAAAAAAAAAAAAAAAA"}, "the second painting is no longer on the server"),
])
def test_forged_start_requests_get_a_message_and_change_nothing(app, client, content_image, style_image, changes,
                                                               message):
    before = client.get("/api/jobs").get_json()
    r = callback(client, app, "start-button.n_clicks", [{"id": "start-button", "property": "n_clicks", "value": 1}],
                 page_state(client, content_image, style_image, **changes))
    assert r.status_code == 200, r.data[:300]
    response = r.get_json()["response"]
    if message is None:
        client.post(f"/api/jobs/{response['job-id']['data']}/cancel")
        return
    assert message in response["start-message"]["children"]
    assert client.get("/api/jobs").get_json() == before


@pytest.mark.parametrize("values", [(math.nan, 1, 0), (1e308, 1, 0), ("x", 1, 0), (None, None, None), ([1], 1, 0)])
def test_forged_weight_changes_get_a_message(app, client, content_image, style_image, values):
    job = submit(client, content_image, style_image, {"size": 48, "iterations": 2}).get_json()
    wait_status(client, job["id"], ("done",))  # finished between the page's two calls: a message too
    for job_id in (job["id"], "no-such-job"):
        r = callback(client, app, "content-weight.value",
                     [{"id": "content-weight", "property": "value", "value": values[0]},
                      {"id": "style-weight", "property": "value", "value": values[1]},
                      {"id": "tv-weight", "property": "value", "value": values[2]}], {"job-id.data": job_id})
        assert r.status_code in (200, 204), r.data[:300]


def test_a_malformed_callback_request_is_a_400_not_a_500(client):
    body = {"output": "live-note.children@x", "outputs": [{"id": "live-note", "property": "children@x"}],
            "inputs": [], "changedPropIds": [], "state": []}
    r = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert r.status_code == 400 and "could not be handled" in r.get_json()["error"]


def test_the_estimate_and_the_quality_points_follow_the_chosen_network(app, client, monkeypatch):
    from styletransfer.jobs.speed import SpeedMeter

    monkeypatch.setattr(app.studio_jobs.store, "meter", SpeedMeter([(256 * 205, 0.3), (512 * 410, 1.2)]))  # as measured

    def estimate(backbone, options=("multiscale",)):
        inputs = [{"id": "size", "property": "value", "value": 512},
                  {"id": "iterations", "property": "value", "value": 2},
                  {"id": "options", "property": "value", "value": list(options)},
                  {"id": "content-upload", "property": "contents", "value": None},
                  {"id": "estimate-refresh", "property": "n_intervals", "value": 1},
                  {"id": "backbone", "property": "value", "value": backbone}]
        r = callback(client, app, "size.value", inputs, {"iterations.marks": {"1": "draft", "2": "default"},
                                                         "quality-stops.data": [5, 10, 25, 50]})
        return r.get_json()["response"]["estimate"]["children"]

    def seconds(text):  # "About 1:05 … draft 0:07 · default 0:17 …": every figure in seconds
        return [int(m) * 60 + int(s) for m, s in re.findall(r"(\d+):(\d\d)", text)]

    vgg, fast = seconds(estimate("vgg19")), seconds(estimate("efficientnet-lite0"))
    assert len(vgg) == len(fast) == 3 and all(f < v / 4 for f, v in zip(fast, vgg)), (vgg, fast)
    # a fast draft (on this CPU): VGG19 paints the full size only, Lite0 the smaller ones
    drafted = seconds(estimate("vgg19", ("multiscale", "draft")))
    assert len(drafted) == 3 and all(f < d < v for f, d, v in zip(fast, drafted, vgg)), (fast, drafted, vgg)
    assert estimate("/etc/passwd.pt") == ""  # not an offered network: no figure


def test_a_bug_inside_a_callback_is_a_logged_500_with_a_plain_message(app, client, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("a deliberately injected bug")

    monkeypatch.setattr(app.studio_jobs, "estimate", broken)
    inputs = [{"id": "size", "property": "value", "value": 256}, {"id": "iterations", "property": "value", "value": 0},
              {"id": "options", "property": "value", "value": ["multiscale"]},
              {"id": "content-upload", "property": "contents", "value": None},
              {"id": "estimate-refresh", "property": "n_intervals", "value": 1},
              {"id": "backbone", "property": "value", "value": "vgg19"}]
    r = callback(client, app, "size.value", inputs, {"quality-stops.data": [5, 10]})
    assert r.status_code == 500 and r.is_json
    assert r.get_json()["error"].startswith("Something went wrong on the server; it has been logged")
    assert "injected bug" not in r.get_data(as_text=True)  # the details go to the log, not to the user
    assert "unhandled error in callback estimate" in caplog.text and "a deliberately injected bug" in caplog.text


# ------------------------------------------------------------------ what a public service must answer


DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize("path,body,status,message", [
    ("/api/jobs/x/weights", '{"style_weight": ' + DEEP + "}", 400, "must be a JSON object"),
    ("/api/jobs/x/weights", '{"a": ' * 20 + "1" + "}" * 20, 400, "nests deeper than 16 levels"),
    ("/api/jobs/x/weights", '{"style_weight": "' + "x" * 100_000 + '"}', 413, "over this server's limit of 64 KB"),
    ("/_dash-update-component", DEEP, 400, "not one this page sends"),
    ("/_dash-update-component", "[" + "0," * 3_000_000 + "0]", 413, "over this server's limit of 256 KB"),
    ("/_dash-update-component", "[" + "0," * 30_000 + "0]", 413, "more than 20,000 values"),
], ids=["deep", "nested", "huge", "deep-callback", "large-callback", "long-callback"])
def test_deep_or_huge_json_is_one_json_4xx_naming_the_limit(client, path, body, status, message):
    r = client.post(path, data=body, content_type="application/json")
    assert r.status_code == status and r.is_json, (r.status_code, r.data[:200])
    assert message in r.get_json()["error"]


def test_a_chunked_callback_body_is_counted_as_it_streams(client):
    """A body without a length (chunked) is read here as it comes, no further than its limits."""
    def chunked(data: bytes):
        return client.post("/_dash-update-component", input_stream=io.BytesIO(data), content_type="application/json",
                           environ_overrides={"wsgi.input_terminated": True})

    r = chunked(b"[" + b"0," * 30_000 + b"0]")
    assert r.status_code == 413 and "more than 20,000 values" in r.get_json()["error"]
    r = chunked(b"[" + b"0," * 3_000_000 + b"0]")
    assert r.status_code == 413
    r = chunked(b'{"output": "x", "inputs": []}')  # small: on to Dash, which refuses it itself
    assert r.status_code == 400 and "not one this page sends" in r.get_json()["error"]


def test_a_huge_or_deep_settings_field_is_refused_with_its_own_limit(client, content_image, style_image):
    r = submit(client, content_image, style_image, extra={"settings": '{"size": "' + "9" * 2**20 + '"}'})
    assert r.status_code == 413 and "KB for the settings" in r.get_json()["error"]
    r = submit(client, content_image, style_image, extra={"settings": DEEP})
    assert r.status_code == 400 and "settings must be a JSON object" in r.get_json()["error"]


def test_more_paintings_than_the_limit_are_refused(client, content_image, style_image):
    styles = [(io.BytesIO(png(style_image)), f"p{i}.png") for i in range(5)]
    r = submit(client, content_image, style_image, extra={"style": styles})
    assert r.status_code == 400 and r.is_json  # a limit on the job, not on the rate of requests
    assert "limit" in r.get_json()["error"]


def test_a_refused_callback_is_logged_in_one_short_line(client, caplog):
    """Dash's message quotes the output the request named: the log keeps 200 characters of it, not megabytes."""
    r = client.post("/_dash-update-component", data=json.dumps({"output": "x" * 200_000, "inputs": []}),
                    content_type="application/json")
    assert r.status_code == 400
    logged = [rec.getMessage() for rec in caplog.records if "malformed callback" in rec.getMessage()]
    assert len(logged) == 1 and len(logged[0]) < 400


def test_a_made_up_component_suite_path_is_a_quiet_404(client, caplog):
    r = client.get("/_dash-component-suites/dash/no-such-file.v1_0m1.js")
    assert r.status_code == 404 and "Traceback" not in caplog.text


def test_every_response_carries_the_headers_a_browser_needs(client):
    for path in ("/", "/api/jobs", "/healthz", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self' 'sha256-" in csp, path
        assert "'unsafe-eval'" not in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_state_changing_requests_from_another_origin_are_refused(client, content_image, style_image):
    before = client.get("/api/jobs").get_json()
    for headers in ({"Origin": "http://127.0.0.1:9999"}, {"Origin": "http://evil.example"},
                    {"Sec-Fetch-Site": "cross-site"}):
        r = client.post("/api/jobs", headers=headers, data={"settings": "{}"}, content_type="multipart/form-data")
        assert r.status_code == 403 and "another site" in r.get_json()["error"], headers
        assert "Set-Cookie" not in r.headers  # a refused request never issues (or replaces) a session
    assert client.get("/api/jobs").get_json() == before
    r = submit(client, content_image, style_image, {"size": 48, "iterations": 2})
    assert r.status_code == 201  # no Origin (a script) or the studio's own: accepted
    client.post(r.get_json()["urls"]["cancel"])


def test_images_over_the_request_s_pixel_budget_are_refused_before_decoding(client, content_image):
    flat = io.BytesIO()
    Image.new("1", (6000, 6000)).save(flat, "PNG")
    styles = [(io.BytesIO(flat.getvalue()), f"flat{i}.png") for i in range(3)]
    r = submit(client, content_image, content_image, extra={"style": styles})
    assert r.status_code == 400 and "megapixels together" in r.get_json()["error"]



# ------------------------------------------------------------------ a fair share per client


@pytest.fixture(scope="module")
def proxied():
    """The studio behind one trusted reverse proxy (it appends the client's address to X-Forwarded-For)."""
    from styletransfer.config import Config

    manager = LocalJobs(devices=["cpu"], limits=Limits(max_queued_per_client=3, max_new_sessions_per_minute=40,
                                                       frame_interval=0.0), preload=None, nice=0)
    app = create_app(Config(trusted_proxies=1), jobs=manager, quick=False, secret="test-secret")
    yield app
    manager.shutdown()


def via_proxy(app, address):
    client = app.server.test_client()
    client.environ_base.update(REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR=address)  # the proxy's own address
    return client


def test_one_address_gets_its_cap_and_another_goes_first(proxied, content_image, style_image):
    greedy = via_proxy(proxied, "198.51.100.7")
    answers = []
    for _ in range(25):  # a new session each time: no cookie jar
        greedy.delete_cookie("studio_session")
        answers.append(submit(greedy, content_image, style_image, {"size": 48, "iterations": 2000}))
    accepted = [r.get_json() for r in answers if r.status_code == 201]
    refused = [r for r in answers if r.status_code != 201]
    assert len(accepted) == 3 and {r.status_code for r in refused} == {429}
    assert "your address already has 3 jobs" in refused[0].get_json()["error"]
    jobs = proxied.studio_jobs
    greedy_jobs = [jobs.store.jobs[j["id"]] for j in accepted]  # their sessions' cookies are gone: found by id
    deadline = time.time() + 60
    while greedy_jobs[0].status != "running" and time.time() < deadline:
        time.sleep(0.02)
    honest = via_proxy(proxied, "203.0.113.20")
    first = submit(honest, content_image, style_image, {"size": 48, "iterations": 2})
    assert first.status_code == 201 and first.get_json()["queue_position"] == 1
    jobs.cancel(greedy_jobs[0].id, greedy_jobs[0].owner)  # the worker is free: it takes the queue's head
    done = wait_status(honest, first.get_json()["id"], ("done",))
    assert all(j.started is None or j.started >= done["started"] for j in greedy_jobs[1:])
    for j in greedy_jobs:
        jobs.cancel(j.id, j.owner)


def test_x_forwarded_for_counts_only_behind_trusted_proxies(app, content_image, style_image):
    """Without STUDIO_TRUSTED_PROXIES the header is the client's own word: ignored."""
    addresses = set()
    for forged in ("1.1.1.1", "2.2.2.2"):
        client = app.server.test_client()
        client.environ_base.update(REMOTE_ADDR="10.8.8.8", HTTP_X_FORWARDED_FOR=forged)
        job = submit(client, content_image, style_image, {"size": 48, "iterations": 2}).get_json()
        addresses.add(app.studio_jobs.store.jobs[job["id"]].client)
    assert addresses == {"10.8.8.8"}


def test_new_sessions_from_one_address_are_rate_limited(proxied):
    crowd = via_proxy(proxied, "192.0.2.99")
    statuses = []
    for _ in range(45):
        crowd.delete_cookie("studio_session")
        statuses.append(crowd.get("/api/jobs").status_code)
    assert statuses[:40] == [200] * 40 and set(statuses[40:]) == {429}
    r = crowd.get("/api/jobs")
    assert r.headers["Retry-After"] == "60" and "too many new sessions from your address" in r.get_json()["error"]
    elsewhere = via_proxy(proxied, "192.0.2.100")
    assert elsewhere.get("/api/jobs").status_code == 200
    crowd.set_cookie("studio_session", elsewhere.get_cookie("studio_session").value)
    assert crowd.get("/api/jobs").status_code == 200     # a session it has is not limited…
    crowd.delete_cookie("studio_session")
    assert crowd.get("/healthz").status_code == 200      # …nor what needs no session


def test_a_fresh_process_serves_a_page_s_first_scripts_all_at_once():
    """Dash marks itself set up before it has registered its scripts: the dozen script requests of a first
    page load, arriving at once in a process that has served nothing yet, got 500s (/quick) and 404s (the
    studio), and the page never rendered. Each fresh app here takes twelve at once."""
    import threading

    from dash import _dash_renderer

    react = _dash_renderer._js_dist_dependencies[0]["relative_package_path"]["prod"]  # the page's first scripts
    paths = [f"{prefix}/_dash-component-suites/dash/{path}" for prefix in ("", "/quick") for path in react] * 2
    paths = (paths * 2)[:12]
    for _ in range(3):
        manager = LocalJobs(devices=["cpu"], limits=Limits(), preload=None)
        fresh = create_app(jobs=manager, secret="test-secret")
        statuses = []
        threads = [threading.Thread(target=lambda p=p: statuses.append(fresh.server.test_client().get(p).status_code))
                   for p in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        manager.shutdown()
        assert statuses == [200] * len(paths)
