"""Tests of the Prefect example: the flows' plain functions, and a delivery
end to end against a running flowbus (FLOWBUS_URL; make test starts one, see
examples/examples_test.go): a subscription to receiver.py, a published
workflow.started, the flow run it starts, and the workflow.processed it
publishes back. Without FLOWBUS_URL they use make dev's address and the end
to end part is skipped when nothing answers there.

    FLOWBUS_URL=http://127.0.0.1:3000 python3 -m unittest -v test_prefect
"""

import json
import os
import secrets
import threading
import time
import unittest
import urllib.error
import urllib.request

import flows
import receiver
from flows import flowbus


def _reachable(url):
    try:
        urllib.request.urlopen(url + "/workflows/probe/events?limit=1", timeout=2).read()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not there"
        return False


URL = os.environ.get("FLOWBUS_URL", "")
RUNNING = bool(URL) or _reachable(flowbus.DEFAULT_URL)


class LogicTest(unittest.TestCase):
    def test_processed_event(self):
        started = {"id": "evt-1", "type": "workflow.started", "workflowid": "wf-1", "source": "/flowbus"}
        got = flows.processed_event(started)
        self.assertEqual(got["type"], "workflow.processed")
        self.assertEqual(got["workflow_id"], "wf-1")
        self.assertEqual(got["id"], "prefect-processed-evt-1")
        self.assertEqual(got["data"]["status"], "completed")
        self.assertEqual(got["data"]["source_event"], "evt-1")
        # The same delivery twice: the same event, so flowbus stores it once.
        self.assertEqual(flows.processed_event(dict(started)), got)
        self.assertIsNone(flows.processed_event(dict(started, type="workflow.step")))
        long_id = "x" * 256
        self.assertLessEqual(len(flows.processed_event(dict(started, id=long_id))["id"]), 256)
        with self.assertRaises(ValueError):
            flows.processed_event({"id": "e", "type": "workflow.started"})

    def test_completed_event(self):
        got = flows.completed_event("wf-9", "etl", "1b6f-run", {"rows": 3})
        self.assertEqual(got["type"], "workflow.completed")
        self.assertEqual(got["workflow_id"], "wf-9")
        self.assertEqual(got["id"], "prefect-run-1b6f-run-completed")
        self.assertEqual(got["data"]["result"], {"rows": 3})
        self.assertEqual(got["source"], "prefect://flows/etl")
        self.assertNotIn("id", flows.completed_event("wf-9", "etl"))

    def test_event_from_delivery(self):
        binary = flows.event_from_delivery(
            {"Content-Type": "application/json", "Ce-Id": "e1", "Ce-Type": "workflow.started", "Ce-Workflowid": "wf%201", "Ce-Sequence": "3"},
            b'{"order":42}',
        )
        self.assertEqual(binary["id"], "e1")
        self.assertEqual(binary["workflowid"], "wf 1")  # percent-decoded, as flowbus encodes it
        self.assertEqual(binary["data"], {"order": 42})
        structured = flows.event_from_delivery(
            {"content-type": "application/cloudevents+json; charset=utf-8"},
            b'{"specversion":"1.0","id":"e2","type":"t","source":"/s","workflowid":"wf","data":{"a":1}}',
        )
        self.assertEqual((structured["id"], structured["data"]), ("e2", {"a": 1}))

    def test_go_signed_delivery(self):
        # A delivery signed by flowbus's own signer (shared/webhook) goes
        # through the receiver: verified, decoded, the flow's logic run.
        path = os.environ.get("FLOWBUS_SIGNED_FIXTURE")
        if not path:
            self.skipTest("FLOWBUS_SIGNED_FIXTURE not set: go test ./examples writes one")
        with open(path, encoding="utf-8") as f:
            fx = json.load(f)
        r = receiver.Receiver(fx["secret"], run=lambda e, url: flows.processed_event(e))
        self.assertEqual(r.handle(fx["headers"], fx["body"].encode()), 204)
        event, result = r.handled[0]
        self.assertEqual(event["id"], fx["event"]["id"])
        self.assertEqual(event["data"]["note"], "grüße")
        self.assertEqual(result["workflow_id"], fx["event"]["workflow_id"])
        self.assertEqual(r.handle(fx["headers"], fx["body"].encode() + b" "), 401)


@unittest.skipUnless(RUNNING, "no flowbus at %s: run make dev, or set FLOWBUS_URL" % (URL or flowbus.DEFAULT_URL))
class EndToEndTest(unittest.TestCase):
    def setUp(self):
        self.bus = flowbus.Client(URL or None)

    def wait(self, what, cond, timeout=45.0):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                self.fail("timed out waiting for " + what)
            time.sleep(0.2)

    def test_delivery_starts_the_flow(self):
        wf = "pf-%d-%s" % (int(time.time()), secrets.token_hex(3))
        rcv = receiver.Receiver(secret=None, url=URL or None)
        srv = rcv.server()
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        name = "prefect-" + wf
        sub = self.bus.create_subscription(
            name,
            {"type": ["workflow.started"], "workflowid": [wf]},
            {"type": "http", "url": "http://127.0.0.1:%d/hook" % srv.server_address[1]},
            delivery={"backoff_base_ms": 100, "backoff_max_ms": 1000},
        )
        self.addCleanup(self.bus.delete_subscription, name)
        self.assertTrue(sub["secret"].startswith("whsec_"))
        rcv.secret = sub["secret"]

        started = self.bus.publish({"type": "workflow.started", "workflow_id": wf, "data": {"order": 7}})
        self.wait("the delivery to start the flow", lambda: len(rcv.handled) >= 1)
        event, result = rcv.handled[0]
        self.assertEqual(event["id"], started["id"])
        self.assertEqual(event["data"], {"order": 7})
        self.assertEqual(rcv.refused, 0)

        def history():
            return [(e["type"], e["id"]) for e in self.bus.history(wf)]

        want = [("workflow.started", started["id"]), ("workflow.processed", result["id"])]
        self.wait("workflow.processed in the history", lambda: history() == want)
        self.assertEqual(history(), want)

        # A forged request is refused and starts nothing.
        req = urllib.request.Request(
            "http://127.0.0.1:%d/hook" % srv.server_address[1],
            data=b"{}",
            headers={"webhook-id": "x", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA"},
        )
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(caught.exception.code, 401)

    def test_etl_publishes_completed(self):
        wf = "pf-etl-%d-%s" % (int(time.time()), secrets.token_hex(3))
        self.assertEqual(flows.etl(wf, URL or None), {"rows": 42})
        self.wait("workflow.completed in the history", lambda: [e["type"] for e in self.bus.history(wf)] == ["workflow.completed"])
        got = list(self.bus.history(wf))[0]
        self.assertEqual(got["source"], "prefect://flows/etl")
        self.assertEqual(got["data"]["result"], {"rows": 42})


if __name__ == "__main__":
    unittest.main()
