"""fast-dash's shared last-result state is made per request thread."""
import threading

from styletransfer.jobs import LocalJobs
from styletransfer.limits import Limits
from styletransfer.web.quick import SessionSafeFastDash, build_quick
from styletransfer.web.sessions import NewSessions


def test_last_result_state_belongs_to_the_request_thread():
    manager = LocalJobs(devices=["cpu"], preload=None)
    try:
        quick = build_quick(manager, Limits(), secret="test", new_sessions=NewSessions(30))
    finally:
        manager.shutdown()
    assert isinstance(quick, SessionSafeFastDash)
    default = quick.output_state
    seen = {}
    barrier = threading.Barrier(2)

    def request(name):
        quick.output_state = [name]           # what fast-dash does in its callback...
        barrier.wait()                        # ...while another visitor's request runs...
        seen[name] = list(quick.output_state)  # ...and then returns what it set

    threads = [threading.Thread(target=request, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"alice": ["alice"], "bob": ["bob"]}
    assert quick.output_state == default  # the main thread never ran a request
