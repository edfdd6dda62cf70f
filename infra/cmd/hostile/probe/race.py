# Concurrent creates of one name, PUTs racing DELETEs; GET afterwards.
# Settings: FLOWBUS_URL (the local API, http://127.0.0.1:3000), FLOWBUS_TOKEN
# (make dev prints it), PROBE_DIR (runs and the receiver's file; /tmp/flowbus-probe).
import os
exec(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "attack.py")).read())
import concurrent.futures as cf, collections
P = "/subscriptions"
RUN = int(time.time())
# duplicate creates concurrently
summary = collections.Counter()
for round in range(10):
    name = f"dup-{RUN}-{round}"
    with cf.ThreadPoolExecutor(16) as ex:
        sts = list(ex.map(lambda i: req("POST", P, sub(name, url=f"http://127.0.0.1:29600/ok/{name}-{i}"))[0], range(16)))
    c = collections.Counter(sts)
    summary[tuple(sorted(c.items()))] += 1
    st, _, data = req("GET", P + "/" + name, ctype=None)
    s = json.loads(data)
    if c.get(201) != 1 or s["version"] != 1:
        print("DUP BAD", name, c, s["version"], s["target"]["url"])
print("dup creates:", dict(summary))
# PUT racing DELETE
summary = collections.Counter()
for round in range(20):
    name = f"race-{RUN}-{round}"
    req("POST", P, sub(name))
    def put(i): return ("PUT", req("PUT", P + "/" + name, sub(name, url=f"http://127.0.0.1:29600/ok/put{i}"))[0])
    def dele(i): return ("DEL", req("DELETE", P + "/" + name, ctype=None)[0])
    with cf.ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(put, i) for i in range(4)] + [ex.submit(dele, i) for i in range(4)]
        res = [f.result() for f in futs]
    st, _, data = req("GET", P + "/" + name, ctype=None)
    c = collections.Counter(res)
    summary[(tuple(sorted(c.items())), st)] += 1
    if any(s >= 500 for _, s in res) or st >= 500:
        print("RACE 5xx", name, res, st)
    if st == 200:
        s = json.loads(data)
        # a PUT after delete: what did it do? is the record whole?
        print("RACE survived", name, res, "version", s.get("version"), "created", s.get("created"), "url", s["target"]["url"])
print("put vs delete:", dict(summary))
