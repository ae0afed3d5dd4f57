"""The studio's time figures as a person meets them: a fresh ``python app.py``, the page opened at once in
headless Chromium on the same machine (its calibration still running), an example photo and painting, the
page's defaults at SIZE px — the estimate the page shows before Start, the ETA it shows at 10 % of the
iterations, against the job's real time. Prints figures; asserts nothing.

    PYTHONPATH=. python docs/first_use.py 512 1024     # each size from its own fresh start

Needs Chromium and ChromeDriver (the browser tests' helpers, tests/browser.py).
"""
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser import Server, chrome, session_of, wait_until  # noqa: E402
from test_studio_browser import choose  # noqa: E402

from styletransfer.engine.hardware import describe_machine  # noqa: E402


def seconds(text: str) -> int | None:
    m = re.search(r"(\d+):(\d\d)", text)
    return int(m.group(1)) * 60 + int(m.group(2)) if m else None


def examples_at(driver, server, size: int) -> None:
    """The studio opened in ``driver`` with the example photo and painting chosen, at ``size`` px."""
    driver.get(server.url + "/")
    wait_until(lambda: driver.find_element("id", "start-button"), message="page")
    driver.find_element("css selector", ".example-content").click()
    driver.find_element("css selector", ".example-style").click()
    choose(driver, "size", f"{size} px")


def one(size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.time()
        server = Server(Path(tmp), STUDIO_MAX_SIZE=max(size, 1024))
        driver = chrome(1366, 900)
        try:
            examples_at(driver, server, size)
            estimate = wait_until(lambda: (lambda t: t if t.startswith("About ") else None)(
                driver.find_element("id", "estimate").text), timeout=600, message="an estimate")
            shown_after = time.time() - started
            said = seconds(estimate)
            driver.find_element("id", "start-button").click()
            api = session_of(driver, server.url)
            job = wait_until(lambda: api.get(server.url + "/api/jobs").json(), message="the job")[-1]["id"]
            eta_at_tenth = None
            while True:
                view = api.get(f"{server.url}/api/jobs/{job}").json()
                total = view.get("total_iterations") or 0
                if eta_at_tenth is None and total and view.get("iteration", 0) >= 0.1 * total:
                    eta_at_tenth = (time.time(), view["eta"])
                if view["status"] in ("done", "failed", "stopped"):
                    break
                time.sleep(0.2)
            if view["status"] != "done":
                print(f"{size} px: the job ended {view['status']}: {view.get('error')}")
                return
            took = view["finished"] - view["started"]
            print(f"{size} px, fresh start: estimate shown {shown_after:.0f} s after the server started: "
                  f"{said} s; the job took {took:.0f} s: {said / took:.2f}×")
            if eta_at_tenth:
                left = view["finished"] - eta_at_tenth[0]
                print(f"{size} px ETA at 10 % of the iterations: {eta_at_tenth[1]:.0f} s, really {left:.0f} s: "
                      f"{eta_at_tenth[1] / left:.2f}×")
        finally:
            driver.quit()
            server.stop()


if __name__ == "__main__":
    print(f"machine: {describe_machine()}; {time.strftime('%Y-%m-%d')}")
    for value in sys.argv[1:] or ["512"]:
        one(int(value))
