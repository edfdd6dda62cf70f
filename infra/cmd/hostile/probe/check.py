# check.py RUN SUB1,SUB2: each acknowledged event of a load.py run against what each
# subscription's receiver got (missing, twice, out of workflow order) and the store.
# Settings: FLOWBUS_URL (the local API, http://127.0.0.1:3000), FLOWBUS_TOKEN
# (make dev prints it), PROBE_DIR (runs and the receiver's file; /tmp/flowbus-probe).
import os
AUTH={'Authorization':'Bearer '+os.environ['FLOWBUS_TOKEN']}
DIR=os.environ.get('PROBE_DIR','/tmp/flowbus-probe')
import json, sys, collections, http.client, urllib.parse
run = sys.argv[1]; subs = sys.argv[2].split(",")
d = json.load(open(f"{DIR}/{run}.json"))
acked = d["acked"]; ids = {i: (wf, k) for wf, k, i in acked}
byk = collections.defaultdict(list)
for wf, k, i in acked: byk[wf].append((k, i))
got = {s: collections.defaultdict(list) for s in subs}  # sub -> wf -> [k...] in arrival order
badsig = 0; foreign = 0
for line in open(f"{DIR}/hostile.jsonl"):
    r = json.loads(line)
    if r["sub"] not in got: continue
    if r["verified"] != "ok": badsig += 1
    i = r["id"]
    if i not in ids: foreign += 1; continue
    wf, k = ids[i]
    got[r["sub"]][wf].append(k)
report = {}
for s in subs:
    missing = dup = ooo_raw = ooo_first = 0
    for wf, ks in byk.items():
        want = sorted(k for k, _ in ks)
        seq = got[s].get(wf, [])
        c = collections.Counter(seq)
        missing += sum(1 for k in want if c[k] == 0)
        dup += sum(v - 1 for v in c.values() if v > 1)
        hi = 0
        for k in seq:
            if k < hi: ooo_raw += 1
            hi = max(hi, k)
        seen = set(); first = []
        for k in seq:
            if k not in seen: seen.add(k); first.append(k)
        ooo_first += sum(1 for a, b in zip(first, first[1:]) if b < a)
    report[s] = {"acked": len(acked), "received": sum(len(v) for v in got[s].values()), "missing": missing, "duplicates": dup, "out_of_order_first_seen": ooo_first, "redelivered_behind_newer": ooo_raw}
# store
miss_store = ooo_store = 0
for wf, ks in byk.items():
    c = http.client.HTTPConnection(urllib.parse.urlsplit(os.environ.get("FLOWBUS_URL", "http://127.0.0.1:3000")).hostname, urllib.parse.urlsplit(os.environ.get("FLOWBUS_URL", "http://127.0.0.1:3000")).port, timeout=60)
    stored = []; after = None
    while True:
        q = "/workflows/" + urllib.parse.quote(wf) + "/events?limit=1000" + ("&after=" + after if after else "")
        c.request("GET", q, headers=AUTH); r = c.getresponse(); b = json.loads(r.read())
        evs = b.get("events", [])
        stored += [e["id"] for e in evs]
        after = b.get("next")
        if not after or not evs: break
    pos = {i: n for n, i in enumerate(stored)}
    miss_store += sum(1 for _, i in ks if i not in pos)
    order = [pos[i] for k, i in sorted(ks) if i in pos]
    ooo_store += sum(1 for a, b in zip(order, order[1:]) if b < a)
report["store"] = {"missing": miss_store, "out_of_order": ooo_store}
report["bad_signatures"] = badsig; report["foreign"] = foreign
print(json.dumps(report, indent=1))
