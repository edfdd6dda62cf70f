# Shared by routes.py and race.py: one request, checked (never a 5xx; a 4xx is problem+json).
# Settings: FLOWBUS_URL (the local API, http://127.0.0.1:3000), FLOWBUS_TOKEN
# (make dev prints it), PROBE_DIR (runs and the receiver's file; /tmp/flowbus-probe).
import http.client, json, os, sys, threading, time, urllib.parse
_u = urllib.parse.urlsplit(os.environ.get("FLOWBUS_URL", "http://127.0.0.1:3000"))
HOST, PORT = _u.hostname, _u.port
TOKEN = os.environ.get("FLOWBUS_TOKEN")
results = []
def req(method, path, body=None, ctype="application/json", headers=None, timeout=60):
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    h = dict(headers or {})
    if ctype is not None: h["Content-Type"] = ctype
    if TOKEN: h["Authorization"] = "Bearer " + TOKEN
    if isinstance(body, str): body = body.encode("utf-8", "surrogatepass")
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        return r.status, r.getheader("Content-Type"), data
    except Exception as e:
        return -1, None, repr(e).encode()
    finally:
        c.close()
def check(label, method, path, body=None, want=None, **kw):
    t0 = time.time()
    st, ct, data = req(method, path, body, **kw)
    dt = time.time() - t0
    ok = True
    if st >= 500 or st < 0: ok = False
    if want is not None and st not in (want if isinstance(want, (list, tuple)) else [want]): ok = False
    if 400 <= st < 500 and (ct or "").split(";")[0] != "application/problem+json": ok = False
    snippet = data[:300].decode("utf-8", "replace").replace("\n", " ")
    results.append((ok, label, st, snippet))
    print(("OK  " if ok else "BAD ") + f"{label}: {method} {path[:80]} -> {st} ({dt:.2f}s) {snippet}", flush=True)
    return st, data
def sub(name, url="http://127.0.0.1:9/hook", pattern=None, **extra):
    d = {"name": name, "pattern": pattern if pattern is not None else {"type": ["x"]}, "target": {"type": "http", "url": url}}
    d.update(extra)
    return json.dumps(d)
