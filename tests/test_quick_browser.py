"""/quick (fast-dash) in headless Chromium: two sessions at once never see each other's results, the page
works on a desktop and on a phone, and neither studio page fetches anything from outside this machine."""
from __future__ import annotations

import threading
import time
import warnings

import pytest

from browser import Server, chrome, diagnose, require_browser, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    srv = Server(tmp_path_factory.mktemp("quick"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    from styletransfer.examples import example_image

    folder = tmp_path_factory.mktemp("pictures")
    # different aspect ratios, so each result's size says whose inputs it was made from
    example_image("hopper").resize((200, 240)).save(folder / "tall.png")
    example_image("landscape").resize((240, 160)).save(folder / "wide.png")
    example_image("swirls").resize((200, 160)).save(folder / "swirls.png")
    example_image("mosaic").resize((160, 160)).save(folder / "mosaic.png")
    return {name: str(folder / f"{name}.png") for name in ("tall", "wide", "swirls", "mosaic")}


def upload_inputs(driver, server=None):
    """The page's two file inputs, once it has rendered them."""
    def uploads(timeout):
        return wait_until(lambda: (lambda found: found if len(found) >= 2 else None)(
            driver.find_elements("css selector", "input[type=file]")), timeout=timeout, message="quick page uploads")

    try:
        return uploads(90)
    except AssertionError:
        # Seen in CI: the page never rendered its inputs. One cause was found (a fresh process answered a
        # first load's script requests with 500s: web/__init__.set_up_before_any_request_is_served). What
        # the page and the server showed goes into the warnings summary; the page is reloaded once, as a
        # person would, and a second miss fails with the same diagnosis.
        warnings.warn(f"/quick did not render in 90 s, reloaded once: {diagnose(driver, server)}")
        driver.refresh()
        try:
            return uploads(90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnose(driver, server)}") from None


def fill(driver, photo, painting, server=None):
    inputs = upload_inputs(driver, server)
    inputs[0].send_keys(photo)
    inputs[1].send_keys(painting)


OUTPUT_IMAGE = "output_photo"  # fast-dash's output image, where the painting shows


def result_size(driver):
    """Natural size of the painting the page shows (the job's latest frame, then its result)."""
    return driver.execute_script(
        f"var img = document.getElementById('{OUTPUT_IMAGE}');"
        "return img && img.naturalWidth && img.src.indexOf('/frames/') >= 0 ? [img.naturalWidth, img.naturalHeight] "
        ": null;")


def box(driver, element_id):
    return driver.execute_script(
        "var b = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return {left: b.left, top: b.top, right: b.right, bottom: b.bottom};", element_id)


def on_top(driver, element_id) -> bool:
    """Whether a tap at the middle of the element reaches it (nothing covers it there)."""
    return driver.execute_script(
        "var e = document.getElementById(arguments[0]), b = e.getBoundingClientRect();"
        "var hit = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2);"
        "return !!hit && (hit === e || e.contains(hit));", element_id)


def test_two_sessions_at_once_each_get_their_own_result(server, pictures):
    a, b = chrome(1200, 900), chrome(1200, 900)
    try:
        for d in (a, b):
            d.get(server.url + "/quick/")
        fill(a, pictures["tall"], pictures["swirls"], server)
        fill(b, pictures["wide"], pictures["mosaic"], server)
        buttons = [wait_until(lambda d=d: [x for x in d.find_elements("css selector", "button")
                                           if x.text.strip().lower() in ("run", "submit")][0],
                              message="run button") for d in (a, b)]
        time.sleep(1.0)  # let both uploads reach the page state
        threads = [threading.Thread(target=btn.click) for btn in buttons]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # no server thread waits: each page follows its job with its own poll, then offers the download
        for d in (a, b):
            wait_until(lambda d=d: d.find_elements("id", "quick-download"), timeout=240, message="a finished job")
        time.sleep(1.5)  # the last frame is shown
        assert result_size(a) == [213, 256]  # tall photo, 256 px long side
        assert result_size(b) == [256, 171]  # wide photo
        # each slider's value beside its label; what a run costs here, from the time the jobs measured
        assert (a.find_element("id", "quick-style_strength-value").text,
                a.find_element("id", "quick-quality-value").text) == ("10", "10 iterations")
        wait_until(lambda: a.find_element("id", "quick-estimate").text.startswith("About "), timeout=30,
                   message="a time estimate")
        assert "Done after" in a.find_element("id", "quick-status").text
        # the result card takes the painting's height: no large empty frame under it
        picture, card = (box(a, "output_photo")["bottom"] - box(a, "output_photo")["top"],
                         a.execute_script("return document.querySelector('.fd-output-card').getBoundingClientRect().height"))
        assert picture > 0 and card - picture < 80, (picture, card)
        clear = box(a, "reset_inputs")  # and Clear follows it, inside the window
        assert clear["bottom"] <= a.execute_script("return window.innerHeight"), clear
        a.save_screenshot(str(server.log.name) + "-quick-a.png")
    finally:
        a.quit()
        b.quit()
    assert server.alive()


@pytest.mark.parametrize("path", ["/", "/quick/"])
def test_pages_load_nothing_from_outside_this_machine(server, path):
    d = chrome()
    try:
        d.get(server.url + path)
        wait_until(lambda: d.execute_script("return document.readyState") == "complete", message="load")
        time.sleep(3)
        urls = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert urls, "no resources recorded"
        outside = [u for u in urls if not u.startswith(server.url) and not u.startswith("data:")]
        assert outside == []
        # and nothing polls a service the page doesn't use (fast-dash's Socket.IO client)
        assert [u for u in urls if "/socket.io/" in u] == []
    finally:
        d.quit()


@pytest.mark.parametrize("width,height", [(1200, 760), (390, 844)], ids=["desktop", "phone"])
def test_run_is_reachable_and_the_painting_shows_in_the_output(server, pictures, width, height):
    """Nothing covers Run or the painting: on a phone Run closes the sidebar, which covers the output there
    (not while an image is missing: that is fixed in the sidebar); the progress and the download stand above
    the painting, not over it."""
    d = chrome(width, height)
    try:
        d.get(server.url + "/quick/")
        uploads = upload_inputs(d, server)
        uploads[0].send_keys(pictures["tall"])
        time.sleep(1.0)
        d.find_element("id", "submit_inputs").click()  # no painting yet: the sidebar stays, with the message
        wait_until(lambda: "add both" in d.find_element("id", "quick-status").text.lower(), timeout=30,
                   message="the missing painting's message")
        assert on_top(d, "photo")  # the sidebar stays open, for the missing painting
        # said once, on the page: no "Something went wrong" pop-up for a missing image, no traceback logged
        time.sleep(1.0)
        assert d.find_elements("css selector", ".mantine-Notification-root") == []
        assert "Traceback" not in server.output()
        uploads[1].send_keys(pictures["swirls"])
        time.sleep(1.0)
        run = d.find_element("id", "submit_inputs")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", run)
        wait_until(lambda: on_top(d, "submit_inputs"), timeout=10, message="Run uncovered")
        run.click()  # a real click: it fails if anything lies over the button
        wait_until(lambda: d.find_elements("id", "quick-download"), timeout=240, message="a finished job")
        wait_until(lambda: result_size(d) == [213, 256], timeout=10, message="the painting in the output")
        d.execute_script(f"document.getElementById('{OUTPUT_IMAGE}').scrollIntoView({{block: 'end'}})")
        assert on_top(d, OUTPUT_IMAGE)
        panel, image = box(d, "quick-panel"), box(d, OUTPUT_IMAGE)
        assert panel["bottom"] <= image["top"] + 1
        d.save_screenshot(str(server.log.name) + f"-quick-{width}x{height}.png")
    finally:
        d.quit()


@pytest.mark.parametrize("bad,expected,when", [("doc.pdf", "pdf document, not a photo or painting", "upload"),
                                               ("panorama.png", "4000×60 px is too narrow", "run")])
def test_a_bad_upload_on_quick_gets_the_studios_message(server, pictures, bad_files, bad, expected, when):
    """A file the server will not keep is refused as it is sent, under its upload zone; one it keeps but
    cannot use, at Run, above the output."""
    d = chrome(1200, 900)
    try:
        d.get(server.url + "/quick/")
        fill(d, bad_files[bad], pictures["swirls"])
        time.sleep(1.0)
        if when == "run":
            wait_until(lambda: [x for x in d.find_elements("css selector", "button")
                                if x.text.strip().lower() == "run"][0], message="run button").click()
            wait_until(lambda: expected in d.find_element("tag name", "body").text.lower(),
                       timeout=30, message="the message")
        # inline, on the page itself, not only in fast-dash's pop-up
        where = "quick-photo-message" if when == "upload" else "quick-status"
        wait_until(lambda: expected in d.find_element("id", where).text.lower(), timeout=10,
                   message="the message inline")
        if when == "upload":  # a good file in the same zone takes the refusal away
            upload_inputs(d, server)[0].send_keys(pictures["tall"])
            wait_until(lambda: d.find_element("id", where).text.strip() == "", timeout=10,
                       message="the refusal gone")
        assert result_size(d) is None
    finally:
        d.quit()
    assert server.alive()
