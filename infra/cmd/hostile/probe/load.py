# 3 publishers over 4 workflows each for ARGV[1] seconds; every acknowledged id saved
# to $PROBE_DIR/<run>.json for check.py and lat.py.
# Settings: FLOWBUS_URL (the local API, http://127.0.0.1:3000), FLOWBUS_TOKEN
# (make dev prints it), PROBE_DIR (runs and the receiver's file; /tmp/flowbus-probe).
import os
AUTH={'Authorization':'Bearer '+os.environ['FLOWBUS_TOKEN']}
DIR=os.environ.get('PROBE_DIR','/tmp/flowbus-probe')
import http.client, json, sys, threading, time, random
import urllib.parse
_u = urllib.parse.urlsplit(os.environ.get("FLOWBUS_URL", "http://127.0.0.1:3000"))
HOST, PORT = _u.hostname, _u.port
DUR = float(sys.argv[1]) if len(sys.argv) > 1 else 60
PUBS, WFS, BATCH, PAUSE = 3, 4, 10, 0.5
run = "L%d" % int(time.time())
acked = []  # (wf, k, id)
lock = threading.Lock()
stats = {"req": 0, "fail": 0, "unacked": 0}
def pub(p):
    c = http.client.HTTPConnection(HOST, PORT, timeout=60)
    k = {w: 0 for w in range(WFS)}
    end = time.time() + DUR
    while time.time() < end:
        w = random.randrange(WFS)
        wf = f"{run}-p{p}-w{w}"
        evs = []
        for _ in range(BATCH):
            k[w] += 1
            evs.append({"type": "load.tick", "workflow_id": wf, "data": {"wf": wf, "k": k[w]}})
        try:
            c.request("POST", "/events", body=json.dumps(evs), headers={"Content-Type": "application/json", **AUTH})
            r = c.getresponse(); body = r.read()
        except Exception as e:
            stats["fail"] += 1; c.close(); c = http.client.HTTPConnection(HOST, PORT, timeout=60)
            print("publish error", e, flush=True); time.sleep(1); continue
        stats["req"] += 1
        if r.status != 202 and r.status != 200:
            stats["fail"] += 1; print("publish", r.status, body[:200], flush=True); time.sleep(1)
            # those events are unacknowledged; keep k increasing (gaps allowed in k, order still checkable)
            continue
        out = json.loads(body)
        with lock:
            for ev, ent in zip(evs, out["entries"]):
                if ent.get("id") and not ent.get("error_code"):
                    acked.append((wf, ev["data"]["k"], ent["id"]))
                else:
                    stats["unacked"] += 1
        time.sleep(PAUSE)
t0 = time.time()
ts = [threading.Thread(target=pub, args=(p,)) for p in range(PUBS)]
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps({"run": run, "acked": len(acked), "seconds": round(time.time() - t0, 1), **stats}))
json.dump({"run": run, "acked": acked, "t_end": time.time()}, open(f"{DIR}/{run}.json", "w"))
