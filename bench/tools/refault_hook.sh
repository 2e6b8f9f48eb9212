# What the first events after idle pay for the unmapped code (issue 30,
# point 3): sourced by idle_rss.sh as its HOOK, with $HP (the host), $HTTP
# and $CH set. Sends ten refreshes twice and prints the host's minor faults
# and CPU ticks (user, system) before, between and after.
# Usage: IDLE_WAIT=65 HOOK='. bench/tools/refault_hook.sh' bench/tools/idle_rss.sh BINARY LABEL
faults() { awk '{print "minor faults " $10 ", user ticks " $14 ", system ticks " $15}' /proc/$HP/stat; }
ten_refreshes() {
  for i in $(seq 10 19); do
    curl -s -X POST ${HTTP}sandbox/act -H 'content-type: application/json' \
      -d "{\"user\":\"u$i\",\"channel_id\":\"$CH\",\"action\":\"refresh\"}" >/dev/null
  done
  sleep 1
}
echo "idle: $(faults)"
ten_refreshes; echo "after ten refreshes: $(faults)"
ten_refreshes; echo "after ten more: $(faults)"
