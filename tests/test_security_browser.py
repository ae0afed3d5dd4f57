"""Another site against a victim's session, in headless Chromium: a page on another port of the same host
(same site, another origin) cannot create a job in the session, and a cross-site form cannot replace its
cookie; both pages work under their Content-Security-Policy."""
from __future__ import annotations

import base64
import functools
import http.server
import io
import threading

import pytest

from browser import Server, chrome, free_port, require_browser, session_of, wait_until

pytestmark = pytest.mark.browser


def png_b64(img) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    require_browser()
    srv = Server(tmp_path_factory.mktemp("security"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def attacker(tmp_path_factory, studio, content_image, style_image):
    """Pages of another origin: one that POSTs a job with the victim's cookies, one cross-site form."""
    folder = tmp_path_factory.mktemp("attacker")
    photo, painting = png_b64(content_image), png_b64(style_image)
    (folder / "fetch.html").write_text(f"""<script>
      function blob(b64) {{ return new Blob([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], {{type: "image/png"}}); }}
      const form = new FormData();
      form.append("content", blob("{photo}"), "p.png");
      form.append("style", blob("{painting}"), "s.png");
      form.append("settings", '{{"size": 64, "iterations": 2}}');
      fetch("{studio.url}/api/jobs", {{method: "POST", body: form, credentials: "include", mode: "no-cors"}})
        .then(() => {{ document.title = "sent"; }}, () => {{ document.title = "sent"; }});
    </script>""")
    (folder / "form.html").write_text(f"""<form id="f" method="post" action="{studio.url}/api/jobs">
      <input name="settings" value="{{}}"></form><script>document.getElementById("f").submit();</script>""")
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield port
    httpd.shutdown()


def cookie(driver) -> str | None:
    return next((c["value"] for c in driver.get_cookies() if c["name"] == "studio_session"), None)


def csp_violations(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_another_origin_cannot_act_in_the_session_nor_reset_it(studio, attacker):
    driver = chrome()
    try:
        driver.get(studio.url + "/")
        wait_until(lambda: driver.find_element("id", "start-button"), message="the studio")
        victim = cookie(driver)
        api = session_of(driver, studio.url)
        assert api.get(studio.url + "/api/jobs").json() == []
        # the same site, another origin (another port of the same host): the cookie travels, the Origin says so
        driver.get(f"http://127.0.0.1:{attacker}/fetch.html")
        wait_until(lambda: driver.title == "sent", message="the attack sent")
        # another site: a top-level form POST (no cookie under SameSite=Lax); it must not replace the cookie
        driver.get(f"http://localhost:{attacker}/form.html")
        wait_until(lambda: "another site" in driver.page_source, message="the form refused")
        driver.get(studio.url + "/")
        wait_until(lambda: driver.find_element("id", "start-button"), message="the studio again")
        assert cookie(driver) == victim
        assert api.get(studio.url + "/api/jobs").json() == []  # no job was made in the victim's session
    finally:
        driver.quit()


@pytest.mark.parametrize("path", ["/", "/quick/"])
def test_the_pages_work_under_their_content_security_policy(studio, path):
    driver = chrome()
    try:
        driver.get(studio.url + path)
        wait_until(lambda: driver.find_elements("css selector", "#start-button, #quick-status"), timeout=90,
                   message="the page rendered")
        assert csp_violations(driver) == []
    finally:
        driver.quit()


def test_the_server_header_names_no_version(studio):
    import requests

    server = requests.get(studio.url + "/healthz", timeout=10).headers.get("Server", "")
    assert server == "style-studio" and "Python" not in server and "Werkzeug" not in server
