#!/bin/bash
# hang.sh LABEL COMMIT [REVERT]: the hanging-receiver scenario of docs/reliability.md
# ("Subscriptions under attack") against an export of COMMIT (REVERT c186aed: without the
# early delete, its delivery.go hunks undone and early.go removed), in $HANG_DIR/LABEL
# (/tmp/flowbus-hang):
# its own engines (FLOWBUS_ENGINES_RUN_DIR=/tmp/eng-iso-LABEL), the local runtime on
# 127.0.0.1:29517, infra/cmd/hostile on 127.0.0.1:29600, subscriptions L1 and L2 (204) and
# H (never answers, timeout 30 s) on the same events, load.py 60, then lat.py and check.py
# every 10 s until L1 and L2 have every event (at most 10 minutes). Stops what it started.
set -u
REPO=$(git rev-parse --show-toplevel)
[ $# -ge 2 ] || { echo "usage: hang.sh LABEL COMMIT [REVERT]" >&2; exit 2; }
LABEL=$1; COMMIT=$2
BASE=${HANG_DIR:-/tmp/flowbus-hang}/$LABEL
rm -rf $BASE; mkdir -p $BASE/src $BASE/probe
cd "$REPO" && git archive $COMMIT | tar -x -C $BASE/src
if [ -n "${3:-}" ]; then git diff $3^ $3 -- shared/delivery/delivery.go | (cd $BASE/src && patch -R -p1) || exit 1; rm -f $BASE/src/shared/delivery/early.go $BASE/src/shared/delivery/early_test.go; fi
export FLOWBUS_ENGINES_RUN_DIR=/tmp/eng-iso-$LABEL
cd $BASE/src
eval "$(localstack/engines.sh start)" >/dev/null 2>&1
set -a; . $FLOWBUS_ENGINES_RUN_DIR/env; set +a
go build -o $BASE/dev ./infra/cmd/dev && go build -o $BASE/hostile ./infra/cmd/hostile || exit 1
$BASE/dev -addr 127.0.0.1:29517 > $BASE/dev.out 2> $BASE/dev.err &
echo $! > $BASE/dev.pid
for i in $(seq 1 600); do grep -q "export FLOWBUS_TOKEN" $BASE/dev.out && break; sleep 1; done
export $(grep "export FLOWBUS_TOKEN" $BASE/dev.out | sed 's/export //')
export FLOWBUS_URL=http://127.0.0.1:29517 PROBE_DIR=$BASE/probe
date +%s.%N > $PROBE_DIR/hostile.start
$BASE/hostile -addr 127.0.0.1:29600 -out $PROBE_DIR/hostile.jsonl > $BASE/hostile.out 2>&1 &
echo $! > $BASE/hostile.pid
sleep 1
for s in L1:ok H:hang L2:ok; do
  name=${s%%:*}; mode=${s##*:}
  extra=""; [ $name = H ] && extra=',"delivery":{"timeout_seconds":30}'
  resp=$(curl -s -X POST $FLOWBUS_URL/subscriptions -H "Authorization: Bearer $FLOWBUS_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$name\",\"pattern\":{\"type\":[\"load.tick\"]},\"target\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:29600/$mode/$name\"}$extra}")
  echo "$resp" | head -c 300; echo
  secret=$(echo "$resp" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("secret",""))')
  curl -s -X POST http://127.0.0.1:29600/_secret/$name -d "$secret"
done
sleep 12   # a change applies within seconds
echo "load start $(date -u)"
python3 infra/cmd/hostile/probe/load.py 60 > $BASE/load.out 2>&1
echo "load end $(date -u)"; cat $BASE/load.out | tail -3
RUN=$(ls $PROBE_DIR | grep '^L[0-9]*\.json$' | sed 's/.json//')
N=$(python3 -c "import json;print(len(json.load(open('$PROBE_DIR/$RUN.json'))['acked']))")
echo "run $RUN acked $N"
for i in $(seq 1 60); do
  got=$(python3 infra/cmd/hostile/probe/lat.py $RUN L1,L2 2>/dev/null | awk '{print $3}' | sort -n | head -1)
  echo "$(date -u +%T) $(python3 infra/cmd/hostile/probe/lat.py $RUN L1,L2 2>/dev/null | tr '\n' ' ')"
  [ "${got:-0}" = "$N" ] && [ $(python3 infra/cmd/hostile/probe/lat.py $RUN L1,L2 | wc -l) = 2 ] && break
  sleep 10
done
echo FINAL; python3 infra/cmd/hostile/probe/lat.py $RUN L1,L2
python3 infra/cmd/hostile/probe/check.py $RUN L1,L2 2>&1 | tail -5
uptime
kill $(cat $BASE/dev.pid) $(cat $BASE/hostile.pid); sleep 5
localstack/engines.sh stop >/dev/null 2>&1
echo done
