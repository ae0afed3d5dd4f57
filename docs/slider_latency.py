"""How soon a slider move shows in the studio's preview: a job running at SIZE px on BACKBONE, the style
slider moved (by keyboard, as a person can) a few times while it runs; for each move, the seconds from the
key press to the first preview frame shown that was made at least one iteration after it (the change applies
at the next iteration: that frame shows it). Prints figures; asserts nothing.

    PYTHONPATH=. python docs/slider_latency.py efficientnet-lite0 256     # and vgg19 256, for comparison

Needs Chromium and ChromeDriver (the browser tests' helpers, tests/browser.py).
"""
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser import Server, chrome, session_of, wait_until  # noqa: E402
from first_use import examples_at  # noqa: E402
from test_studio_browser import choose, press, status  # noqa: E402

from styletransfer.engine.hardware import describe_machine  # noqa: E402


def measure(backbone: str, size: int, moves: int = 4) -> list[float]:
    from selenium.webdriver.common.keys import Keys

    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        driver = chrome(1366, 900)
        try:
            examples_at(driver, server, size)
            choose(driver, "backbone", backbone if backbone == "vgg19" else f"{backbone} — fast")
            press(driver, "iterations", Keys.END)  # long enough for every move
            driver.find_element("id", "start-button").click()
            api = session_of(driver, server.url)
            job = wait_until(lambda: api.get(server.url + "/api/jobs").json(), message="the job")[-1]["id"]
            wait_until(lambda: status(driver) == "running", timeout=120, message="running")
            time.sleep(3)  # past the first frames
            pressed = []
            for k in range(moves):
                pressed.append(time.time())
                press(driver, "style-weight", Keys.ARROW_RIGHT if k % 2 == 0 else Keys.ARROW_LEFT)
                time.sleep(2)
            view = api.get(f"{server.url}/api/jobs/{job}").json()
            shown = driver.execute_script("return window.studioFrameLog")
            api.post(f"{server.url}/api/jobs/{job}/cancel")
        finally:
            driver.quit()
            server.stop()
    produced = dict((seq, t) for seq, t in view["frame_log"])
    iteration = view["elapsed"] / max(view["iteration"], 1)  # seconds, on average over its scales
    latencies = []
    for at in pressed:
        first = min((s["shownAt"] for s in shown if s["seq"] in produced and produced[s["seq"]] >= at + iteration),
                    default=None)
        if first is not None:
            latencies.append(first - at)
    return latencies


if __name__ == "__main__":
    backbone, size = sys.argv[1] if len(sys.argv) > 1 else "efficientnet-lite0", int(sys.argv[2] if len(sys.argv) > 2 else 256)
    print(f"machine: {describe_machine()}; {time.strftime('%Y-%m-%d')}")
    found = measure(backbone, size)
    print(f"{backbone} at {size} px: key press -> the first frame after the change shown: "
          + ", ".join(f"{t:.2f}" for t in found) + (f" s (median {statistics.median(found):.2f} s)" if found else ""))
