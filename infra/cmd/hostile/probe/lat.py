# lat.py RUN SUB1,SUB2: publish-to-delivery p50/p99 from each event id's ULID time to the
# receiver's clock ($PROBE_DIR/hostile.start: its start, Unix seconds).
# Settings: FLOWBUS_URL (the local API, http://127.0.0.1:3000), FLOWBUS_TOKEN
# (make dev prints it), PROBE_DIR (runs and the receiver's file; /tmp/flowbus-probe).
import json, os, sys
DIR = os.environ.get("PROBE_DIR", "/tmp/flowbus-probe")
A = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
def ulid_ms(u): 
    n = 0
    for ch in u[:10]: n = n * 32 + A.index(ch)
    return n / 1000
run = sys.argv[1]; subs = sys.argv[2].split(",")
ids = {i for _, _, i in json.load(open(f"{DIR}/{run}.json"))["acked"]}
st = float(open(f"{DIR}/hostile.start").read())
first = {}
for line in open(f"{DIR}/hostile.jsonl"):
    r = json.loads(line)
    if r["sub"] in subs and r["id"] in ids and (r["sub"], r["id"]) not in first:
        first[(r["sub"], r["id"])] = st + r["t"] - ulid_ms(r["id"])
for s in subs:
    v = sorted(x for (ss, _), x in first.items() if ss == s)
    if v: print(s, "n", len(v), "p50 %.2fs p99 %.2fs max %.2fs" % (v[len(v)//2], v[int(len(v)*0.99)], v[-1]))
