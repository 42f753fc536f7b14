#!/usr/bin/env bash
# Smoke test of a deployed environment: ./infra/k8s/smoke.sh <namespace>
# Port-forwards the recommend service and the collector (their public ports, and the
# recommender's ops port for /readyz), then checks that the service is ready with a champion,
# that /recommend answers a known shape for a newcomer, and that the collector accepts one
# event. Exit code 1 on the first failure.
set -euo pipefail
NS="${1:?usage: smoke.sh <namespace>}"
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; }
PIDS=()
trap cleanup EXIT
kubectl -n "$NS" port-forward svc/recommender 18080:80 >/dev/null & PIDS+=($!)
kubectl -n "$NS" port-forward svc/collector 18081:80 >/dev/null & PIDS+=($!)
kubectl -n "$NS" port-forward deploy/recommender 19180:9180 >/dev/null & PIDS+=($!)
for _ in $(seq 1 30); do curl -fsS http://127.0.0.1:19180/healthz >/dev/null 2>&1 && break; sleep 1; done

echo "readyz:"
curl -fsS http://127.0.0.1:19180/readyz | python3 -c '
import json, sys
body = json.load(sys.stdin)
assert body["ready"], body
assert "champion" in body["models"], body
print("  champion", body["models"]["champion"], "degraded", body["degraded"])'

echo "recommend:"
curl -fsS -X POST http://127.0.0.1:18080/recommend -H 'content-type: application/json' \
  -d '{"user_id": "smoke-test-newcomer", "k": 5}' | python3 -c '
import json, sys
body = json.load(sys.stdin)
assert len(body["items"]) == 5, body
assert {"article_id", "score", "reason"} <= set(body["items"][0]), body
print("  ", body["variant"], body["model_version"], [i["article_id"] for i in body["items"]])'

echo "collector:"
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# A browser's user agent: the collector refuses crawlers' (curl's included) outside its
# unfiltered networks.
curl -fsS -X POST http://127.0.0.1:18081/events -H 'content-type: application/json' \
  -H 'user-agent: Mozilla/5.0 (X11; Linux x86_64) reco-smoke-test' \
  -d "[{\"event_id\": \"$(python3 -c 'import uuid; print(uuid.uuid4())')\", \"type\": \"view\", \"user_id\": \"smoke-test-newcomer\", \"article_id\": \"smoke-test\", \"ts\": \"$now\"}]" \
  | python3 -c 'import json, sys; body = json.load(sys.stdin); print("  ", body)'
echo "smoke test passed"
