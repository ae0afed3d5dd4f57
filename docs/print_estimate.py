"""The print menu's estimate against the print's own time: a fresh default studio (python app.py), hopper x
swirls at 1024 px through the API, the menu read in headless Chromium, then its 2048-px print. Run from the checkout:
PYTHONPATH=. python docs/print_estimate.py (figures in docs/prints.md)."""
import json, pathlib, sys, tempfile, time
sys.path.insert(0, "tests")
from browser import Server, chrome, wait_until, session_of
from styletransfer.examples import example_image
tmp = pathlib.Path(tempfile.mkdtemp()); photo, painting = tmp / "hopper.png", tmp / "swirls.png"
example_image("hopper").save(photo); example_image("swirls").save(painting)
srv = Server(tmp)
try:
    d = chrome(1366, 900)
    d.get(srv.url + "/")
    time.sleep(3)
    api = session_of(d, srv.url)
    with open(photo, "rb") as p, open(painting, "rb") as q:
        r = api.post(srv.url + "/api/jobs", files={"content": p, "style": q}, data={"settings": json.dumps({"size": 1024})})
    job = r.json()["id"]
    done = wait_until(lambda: (j := api.get(f"{srv.url}/api/jobs/{job}").json())["status"] == "done" and j, timeout=1800)
    time.sleep(2)
    done = api.get(f"{srv.url}/api/jobs/{job}").json()
    print("1024 job", done["finished"] - done["started"], "s", flush=True)
    d.get(srv.url + "/")
    wait_until(lambda: d.find_element("id", "print-button").is_enabled(), timeout=120)
    time.sleep(2)
    d.find_element("id", "print-size").click(); time.sleep(1)
    menu = [o.text for o in d.find_elements("css selector", "[role=option]") if " px" in o.text]
    print("menu", menu, flush=True)
    d.quit()
    made = api.post(f"{srv.url}/api/jobs/{job}/print", json={"size": 2048}).json()
    end = wait_until(lambda: (j := api.get(f"{srv.url}/api/jobs/{made['id']}").json())["status"] in ("done", "failed") and j, timeout=3600)
    time.sleep(2)
    end = api.get(f"{srv.url}/api/jobs/{made['id']}").json()
    print("2048 print", end["status"], end["finished"] - end["started"], "s", end.get("error"), end["scales"], flush=True)
finally:
    srv.stop()
