#!/bin/bash
# Idle memory of the tutorial service (issue 30, point 3): a sandbox, 100
# members in one channel, `run` of the tutorial; once every member has a view
# and 3 s more, /proc/PID/{status,smaps_rollup,smaps} and the thread names
# go to /tmp/perf-idle/LABEL. Usage: bench/tools/idle_rss.sh BINARY LABEL [run args]
# IDLE_WAIT (seconds, default 3) is how long the service sits idle before
# the measure; past 60 the host's periodic release (src/memory.rs) has run.
# Env: RUN_PREFIX (e.g. a valgrind command), HOOK (shell run with $HP, the
# host pid, before measuring), SERVICE_EXTRA (more service_config keys, e.g.
# '"runtime_threads": 2'), plus anything the host reads (MALLOC_ARENA_MAX,
# MOOBIUS_MEMORY_TUNING).
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$1; LABEL=$2; shift 2
OUT=/tmp/perf-idle/$LABEL; rm -rf $OUT; mkdir -p $OUT/svc/config $OUT/svc/scripts $OUT/svc/resources
cp $REPO/scripts/service.rhai $OUT/svc/scripts/; cp $REPO/resources/avatar.png $OUT/svc/resources/
env -u MALLOC_ARENA_MAX -u TOKIO_WORKER_THREADS $BIN sandbox --ready-file $OUT/ready.json > $OUT/sandbox.log 2>&1 &
SB=$!
for i in $(seq 100); do [ -s $OUT/ready.json ] && break; sleep 0.1; done
HTTP=$(python3 -c "import json;print(json.load(open('$OUT/ready.json'))['http'])")
WS=$(python3 -c "import json;print(json.load(open('$OUT/ready.json'))['ws'])")
CH=$(curl -s -X POST ${HTTP}sandbox/channels -d '{"name":"idle"}' -H 'content-type: application/json' | python3 -c "import json,sys;print(json.load(sys.stdin)['channel_id'])")
for i in $(seq -w 0 99); do
  curl -s -X POST ${HTTP}sandbox/users -d "{\"name\":\"u$i\"}" -H 'content-type: application/json' >/dev/null
  curl -s -X POST ${HTTP}sandbox/act -d "{\"user\":\"u$i\",\"channel_id\":\"$CH\",\"action\":\"join\"}" -H 'content-type: application/json' >/dev/null
done
cat > $OUT/svc/config/config.json <<J
{"account_config": {"email": "idle-$LABEL@bench.local", "password": "bench"},
 "service_config": {"http_server_uri": "$HTTP", "ws_server_uri": "$WS", "service_id": "", "channels": ["$CH"], "others": "include", "checkin_interval": 0${SERVICE_EXTRA:+, $SERVICE_EXTRA}},
 "log_config": {"terminal_log_level": "ERROR", "log_level": "ERROR", "error_log_level": "ERROR"}}
J
$RUN_PREFIX $BIN run --no-watch --dir $OUT/svc "$@" > $OUT/host.log 2>&1 &
HP=$!
[ -n "$RUN_PREFIX" ] && { sleep 1; HP=$(pgrep -n -f "moobius-host run --no-watch --dir $OUT/svc"); }
# every member has a view: u99's view lists 101 characters
for i in $(seq 200); do
  N=$(curl -s "${HTTP}sandbox/view?user=u99&channel_id=$CH" | python3 -c "import json,sys
try: print(len(json.load(sys.stdin).get('characters',[])))
except Exception: print(0)")
  [ "$N" = "101" ] && break; sleep 0.1
done
sleep ${IDLE_WAIT:-3}
[ -n "$HOOK" ] && eval "$HOOK"
grep -E "VmRSS|VmHWM|Threads|RssAnon|RssFile" /proc/$HP/status > $OUT/status
cat /proc/$HP/smaps_rollup > $OUT/smaps_rollup
cat /proc/$HP/smaps > $OUT/smaps
ls /proc/$HP/task | while read t; do cat /proc/$HP/task/$t/comm; done | sort | uniq -c > $OUT/threads
kill ${KILLSIG:--TERM} $HP; wait 2>/dev/null $HP; sleep 1; kill $SB; wait $SB 2>/dev/null
echo "$LABEL: $(tr '\n' ' ' < $OUT/status | tr -s ' ') views=$N"
