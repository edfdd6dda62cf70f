"""A flowbus webhook endpoint that starts the on-flowbus-event Prefect flow.

flowbus delivers each matching event to it (a subscription with an http
target), signed per Standard Webhooks. It checks the signature with the
secret POST /subscriptions answered, then either runs the flow here (the
default; with Prefect installed that is a real flow run) or, with
PREFECT_DEPLOYMENT set (e.g. on-flowbus-event/flowbus, what `python3
flows.py serve` deploys), asks Prefect for a run of that deployment and
answers at once. It answers 204 when done, 401 for a bad signature, 500
when the flow failed (flowbus retries, with backoff, holding back that
workflow's later events for this subscription only).

    FLOWBUS_WEBHOOK_SECRET=whsec_... python3 receiver.py --addr 127.0.0.1:9100
"""

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import flows
from flows import flowbus

MAX_BODY = 1 << 20  # one flowbus event is at most 1 MiB


def run_inline(event, url=None):
    return flows.on_flowbus_event(event, url)


def run_deployment_for(name):
    """A runner that starts a run of the Prefect deployment name with the
    event as its parameter and does not wait for it."""

    def run(event, url=None):
        from prefect.deployments import run_deployment  # only this path needs Prefect

        fr = run_deployment(name, parameters={"event": event}, timeout=0)
        return {"flow_run_id": str(fr.id)}

    return run


class Receiver:
    """What the endpoint does with one request, apart from HTTP: verify,
    decode, run. handled lists (event, result) in arrival order."""

    def __init__(self, secret, run=run_inline, url=None, log=None):
        self.secret = secret
        self.run = run
        self.url = url
        self.log = log
        self.handled = []
        self.refused = 0
        self.lock = threading.Lock()

    def handle(self, headers, body):
        """Answers the HTTP status for one delivery."""
        try:
            flowbus.verify(self.secret, headers, body)
        except flowbus.VerificationError as err:
            with self.lock:
                self.refused += 1
            if self.log:
                self.log("receiver: refused a request: %s" % err)
            return 401
        event = flows.event_from_delivery(headers, body)
        result = self.run(event, self.url)
        with self.lock:
            self.handled.append((event, result))
        if self.log:
            self.log("receiver: %s %s of %s -> %s" % (event.get("type"), event.get("id"), event.get("workflowid"), json.dumps(result)))
        return 204

    def server(self, addr=("127.0.0.1", 0)):
        """A ThreadingHTTPServer on addr serving this receiver (not started)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n > MAX_BODY:
                    self.send_response(413)
                    self.end_headers()
                    return
                body = self.rfile.read(n)
                try:
                    status = receiver.handle(dict(self.headers.items()), body)
                except Exception as err:  # noqa: BLE001 - the flow failed: flowbus retries
                    print("receiver: %s" % err, file=sys.stderr)
                    status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt, *args):
                pass

        return ThreadingHTTPServer(addr, Handler)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--addr", default="127.0.0.1:9100", help="host:port to listen on")
    p.add_argument("--secret", default=os.environ.get("FLOWBUS_WEBHOOK_SECRET", ""), help="whsec_... (FLOWBUS_WEBHOOK_SECRET)")
    args = p.parse_args()
    if not args.secret:
        p.error("--secret (or FLOWBUS_WEBHOOK_SECRET) is required: the whsec_... POST /subscriptions answered")
    deployment = os.environ.get("PREFECT_DEPLOYMENT")
    run = run_deployment_for(deployment) if deployment else run_inline
    host, port = args.addr.rsplit(":", 1)
    srv = Receiver(args.secret, run, log=lambda line: print(line, flush=True)).server((host, int(port)))
    print("receiver: http://%s/ -> %s" % (args.addr, deployment or "on-flowbus-event (in this process)"))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
