# Every subscription route with hostile input; prints OK/BAD per request and a summary.
# Settings: FLOWBUS_URL (the local API, http://127.0.0.1:3000), FLOWBUS_TOKEN
# (make dev prints it), PROBE_DIR (runs and the receiver's file; /tmp/flowbus-probe).
import os
exec(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "attack.py")).read())
P = "/subscriptions"
req("DELETE", P + "/" + "n" * 64, ctype=None)  # left by an earlier run
# --- bodies
check("malformed json", "POST", P, '{"name":', want=400)
check("empty body", "POST", P, '', want=400)
check("array body", "POST", P, '[]', want=400)
check("null body", "POST", P, 'null', want=400)
check("two objects", "POST", P, sub("two-a") + sub("two-b"), want=400)
check("text/plain", "POST", P, sub("ct-plain"), ctype="text/plain", want=415)
check("xml ct", "POST", P, sub("ct-xml"), ctype="application/xml", want=415)
check("json latin1", "POST", P, sub("ct-latin"), ctype="application/json; charset=latin1", want=415)
check("bad ct syntax", "POST", P, sub("ct-bad"), ctype="application/json; ;;=", want=[201,415])
check("invalid utf8 in desc", "POST", P, b'{"name":"utf8-bad","description":"\xff\xfe","pattern":{},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}', want=400)
check("invalid utf8 in pattern", "POST", P, b'{"name":"utf8-bad2","pattern":{"type":["\xc3\x28"]},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}', want=400)
check("lone surrogate escaped desc", "POST", P, '{"name":"sur-1","description":"\\ud800","pattern":{},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}', want=400)
check("lone surrogate escaped pattern", "POST", P, '{"name":"sur-2","pattern":{"type":["\\udc00x"]},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}', want=400)
check("lone surrogate in pattern key", "POST", P, '{"name":"sur-3","pattern":{"\\ud800":["a"]},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}', want=400)
check("oversized 2MB", "POST", P, '{"name":"big","description":"' + "a"*2_000_000 + '"}', want=413)
check("oversized 11MB", "POST", P, '{"name":"big","description":"' + "a"*11_000_000 + '"}', want=413)
check("desc 513", "POST", P, sub("desc513", description="a"*513), want=400)
check("unknown member", "POST", P, sub("unk", colour="red"), want=400)
check("deep nesting body", "POST", P, '{"name":"deep","x":' + "["*100000 + "]"*100000 + "}", want=400)
# --- numbers
for k, v in [("timeout_seconds", 0), ("timeout_seconds", 31), ("timeout_seconds", 1e300), ("timeout_seconds", -1), ("timeout_seconds", 99999999999999999999), ("timeout_seconds", 1.5), ("retry_attempts", 186), ("maximum_event_age_seconds", 59), ("backoff_base_ms", 3600001), ("backoff_max_ms", "10"), ("retry_attempts", 9223372036854775808)]:
    check(f"delivery.{k}={v}", "POST", P, sub("num-x", delivery={k: v}), want=400)
# --- names
for n in ["", "a/b", "a%2Fb", "ä", "x"*65, "..", ".", "a b", "a\u0000b", "💥", "-"]:
    st, _ = check(f"name {n!r}", "POST", P, sub(n), want=[400, 201])
check("name 64", "POST", P, sub("n"*64), want=201)
check("name dup", "POST", P, sub("n"*64), want=409)
# --- path tricks
for path in ["/subscriptions/a%2Fb", "/subscriptions/%2e%2e", "/subscriptions/..%2F..%2Fevents", "/subscriptions/" + "x"*5000, "/subscriptions/%ff", "/subscriptions/%", "/subscriptions/%00", "/subscriptions//", "/subscriptions/a/b/c", "/subscriptions/%E2%82%AC", "/subscriptions/" + "n"*64 + "%20", "/subscriptions/"+"n"*64+"/dead-letters?limit=0", "/subscriptions/"+"n"*64+"/dead-letters?limit=101", "/subscriptions/"+"n"*64+"/dead-letters?after=garbage", "/subscriptions/"+"n"*64+"/dead-letters?after=%ff%fe", "/subscriptions?limit=0", "/subscriptions?limit=99999999999999999999", "/subscriptions?after=%2F", "/subscriptions?limit=-1"]:
    check(f"GET {path[:60]}", "GET", path, None, ctype=None, want=[200, 400, 404])
for path in ["/subscriptions/a%2Fb", "/subscriptions/%2e%2e", "/subscriptions/%ff"]:
    check(f"DELETE {path}", "DELETE", path, None, ctype=None, want=[400, 404])
    check(f"PUT {path}", "PUT", path, sub("zzz"), want=[400, 404])
    check(f"rotate {path}", "POST", path + "/rotate-secret", "", want=[400, 404])
    check(f"redrive {path}", "POST", path + "/redrive", "", want=[400, 404])
check("rotate overlap -1", "POST", "/subscriptions/" + "n"*64 + "/rotate-secret?overlap_seconds=-1", "", want=400)
check("rotate overlap huge", "POST", "/subscriptions/" + "n"*64 + "/rotate-secret?overlap_seconds=99999999999999999999", "", want=400)
check("rotate ok", "POST", "/subscriptions/" + "n"*64 + "/rotate-secret?overlap_seconds=0", "", want=200)
check("redrive empty", "POST", "/subscriptions/" + "n"*64 + "/redrive", "", want=202)
check("redrive body junk", "POST", "/subscriptions/" + "n"*64 + "/redrive", "garbage", ctype="text/plain", want=[202, 400, 415])
check("PUT name mismatch", "PUT", "/subscriptions/" + "n"*64, sub("other"), want=400)
check("PUT version wrong", "PUT", "/subscriptions/" + "n"*64, sub("n"*64, version=99), want=409)
check("PUT version -1", "PUT", "/subscriptions/" + "n"*64, sub("n"*64, version=-1), want=[400,409])
check("PUT unknown", "PUT", "/subscriptions/nosuch-zz", sub("nosuch-zz"), want=[200,201,404])
# --- targets
urls = ["http://169.254.169.254/latest/meta-data/", "https://169.254.169.254/", "http://[fd00:ec2::254]/", "http://localhost:9/", "http://LOCALHOST./", "http://127.1/", "http://0x7f000001/", "http://2130706433/", "https://2130706433/", "http://017700000001/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:169.254.169.254]/", "https://[::ffff:a9fe:a9fe]/", "http://[::1]:9/", "http://0.0.0.0/", "http://[::]/", "https://metadata.google.internal/", "https://metadata.google.internal./", "https://METADATA.GOOGLE.INTERNAL/", "https://169.254.169.254.nip.io/", "https://10.0.0.1/", "https://192.168.1.1/", "https://[64:ff9b::a9fe:a9fe]/", "https://[fe80::1%25eth0]/", "https://100.100.100.200/", "ftp://127.0.0.1/", "file:///etc/passwd", "gopher://127.0.0.1:70/", "javascript:alert(1)", "//127.0.0.1/", "http:127.0.0.1/", "http://user:pw@127.0.0.1/", "http://127.0.0.1/#frag", "http://127.0.0.1:0/", "http://127.0.0.1:65536/", "http://127.0.0.1:-1/", "https://example.com/" + "a"*3000, "http://127.0.0.1\\@169.254.169.254/", "http://127.0.0.1%00.evil/", "https://evil.com\u3002/", "https://[::ffff:7f00:1]/", "https://255.255.255.255/", "https://224.0.0.1/", "https://example.com:443@169.254.169.254/", "HTTP://127.0.0.1:9/", "https://localhost.:443/", "https://foo.localhost/", "http://127.0.0.1:9/ok"]
for u in urls:
    check(f"url {u[:60]!r}", "POST", P, sub("url-probe", url=u), want=[400, 201])
    req("DELETE", "/subscriptions/url-probe", ctype=None)
# other target types
for t in [{"type":"lambda","function":"../x"}, {"type":"lambda","function":"a"*200}, {"type":"sqs","queue":"http://169.254.169.254/000/q"}, {"type":"sqs","queue":"file:///x/q"}, {"type":"kinesis","stream":"s"*200}, {"type":"eventbridge","event_bus":"b","detail_type":"d"*200}, {"type":"bus"}, {"type":"nope"}, {"type":"http"}, {"type":123}, {"type":"http","url":"http://127.0.0.1:9/","queue":"q"}]:
    check(f"target {json.dumps(t)[:70]}", "POST", P, json.dumps({"name":"tgt-probe","pattern":{},"target":t}), want=[400,201])
    req("DELETE", "/subscriptions/tgt-probe", ctype=None)
# --- patterns
def pt(label, pattern, event=None, want=[200,400]):
    return check("pattern " + label, "POST", "/patterns/test", json.dumps({"pattern": pattern, "event": event if event is not None else {"type":"x"}}), want=want)
pt("deep nesting 50", eval('{"a":' * 50 + '["x"]' + '}' * 50))
pt("deep nesting 1000 (raw)", None)
check("pattern deep raw", "POST", "/patterns/test", '{"pattern":' + '{"a":'*3000 + '["x"]' + '}'*3000 + ',"event":{}}', want=400)
check("pattern deep event", "POST", "/patterns/test", '{"pattern":{"a":["x"]},"event":' + '{"a":'*9000 + '1' + '}'*9000 + '}', want=[200,400])
check("pattern deep event array", "POST", "/patterns/test", '{"pattern":{"a":["x"]},"event":{"a":' + '['*20000 + ']'*20000 + '}}', want=[200,400])
pt("many $or", {"$or": [{"k%d" % i: ["v"]} for i in range(2000)]}, want=400)
pt("$or 1001 combos", {"$or": [{"k%d" % i: ["v"]} for i in range(120)]})
pt("thousands values", {"type": ["v%d" % i for i in range(5000)]}, want=400)
pt("many small values", {"type": list(range(900))})
pt("nested $or", {"$or": [{"$or": [{"$or": [{"a": ["x"]}, {"b": ["y"]}]}]}]})
pt("numeric huge", {"n": [{"numeric": [">", 1e308, "<", 1e309]}]}, want=400)
check("numeric raw huge", "POST", "/patterns/test", '{"pattern":{"n":[{"numeric":[">",1e400]}]},"event":{"n":1}}', want=400)
check("numeric raw -huge", "POST", "/patterns/test", '{"pattern":{"n":[{"numeric":[">",-1e400]}]},"event":{"n":1}}', want=400)
check("event numeric 1e400", "POST", "/patterns/test", '{"pattern":{"n":[{"numeric":[">",0]}]},"event":{"n":1e400}}', want=[200,400])
check("event numeric big int", "POST", "/patterns/test", '{"pattern":{"n":[12345678901234567890123]},"event":{"n":12345678901234567890124}}', want=[200,400])
pt("numeric nan str", {"n": [{"numeric": [">", "NaN"]}]}, want=400)
pt("numeric empty", {"n": [{"numeric": []}]}, want=400)
pt("numeric inverted", {"n": [{"numeric": [">", 5, "<", 1]}]}, want=400)
pt("cidr bad", {"ip": [{"cidr": "10.0.0.0/33"}]}, want=400)
pt("cidr v6", {"ip": [{"cidr": "::ffff:0:0/96"}]}, {"ip": "::ffff:1.2.3.4"})
pt("wildcard many stars", {"s": [{"wildcard": "*a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*"}]}, {"s": "a"*100000})
pt("wildcard pathological", {"s": [{"wildcard": "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"}]}, {"s": "a"*200000})
pt("wildcard consecutive", {"s": [{"wildcard": "a**b"}]}, want=400)
pt("prefix empty obj", {"s": [{"prefix": {}}]}, want=400)
pt("anything-but nested", {"s": [{"anything-but": {"anything-but": "x"}}]}, want=400)
pt("exists str", {"s": [{"exists": "true"}]}, want=400)
pt("unknown op", {"s": [{"regex": ".*"}]}, want=400)
pt("empty array", {"s": []}, want=400)
pt("not object", ["x"], want=400)
pt("pattern string", "x", want=400)
pt("event array", {"s":["x"]}, ["x"], want=400)
check("pattern-test ct text", "POST", "/patterns/test", '{"pattern":{},"event":{}}', ctype="text/plain", want=415)
check("pattern-test unknown member", "POST", "/patterns/test", '{"pattern":{},"event":{},"x":1}', want=400)
check("pattern-test malformed", "POST", "/patterns/test", '{"pattern":{', want=400)
check("pattern-test lone surrogate", "POST", "/patterns/test", '{"pattern":{"s":["\\ud800"]},"event":{"s":"\\ud800"}}', want=[200, 400])
check("pattern-test invalid utf8", "POST", "/patterns/test", b'{"pattern":{"s":["\xff"]},"event":{"s":"\xff"}}', want=[200, 400])
check("pattern-test event 1.2MB", "POST", "/patterns/test", '{"pattern":{},"event":{"s":"' + "a"*1200000 + '"}}', want=[400, 413])
check("pattern-test key 3000 chars", "POST", "/patterns/test", json.dumps({"pattern": {"k"*3000: ["x"]}, "event": {}}), want=400)
check("pattern-test dup keys", "POST", "/patterns/test", '{"pattern":{"s":["x"],"s":["y"]},"event":{"s":"y"}}', want=[200, 400])
# --- replays aimed at subscriptions
for b in ['{"workflow_id":"w","target":{"subscription":"nosuch"}}', '{"workflow_id":"w","target":{"subscription":"a/b"}}', '{"workflow_id":"w","target":{"subscription":""}}', '{"workflow_id":"w","target":{"subscription":"' + "x"*5000 + '"}}', '{"workflow_id":"w","target":{"match":false}}', '{"workflow_id":"w","target":{"subscription":123}}', '{"workflow_id":"w","target":{"subscription":"\\ud800"}}', '{"workflow_id":"w","target":"x"}']:
    check("replay " + b[:70], "POST", "/replays", b, want=[400, 404, 409])
print("SUMMARY bad=%d of %d" % (sum(1 for r in results if not r[0]), len(results)))
