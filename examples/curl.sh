#!/usr/bin/env bash
# The HTTP API with curl: health, the consents this user may name, a generation followed to the
# end, the signed video, and its verification. Needs curl and jq.
#
#   SONIC_URL=http://127.0.0.1:7861 SONIC_USER=alice:secret \
#     bash examples/curl.sh face.jpg speech.wav con_... talking.mp4
set -euo pipefail
image=$1 audio=$2 consent=$3 out=$4
api="${SONIC_URL:-http://127.0.0.1:7861}/sonic/v1"
auth=(--silent --show-error --fail-with-body --user "${SONIC_USER:?set SONIC_USER=USER:PASSWORD}")

curl "${auth[@]}" "$api/health" | jq -c '{version, capabilities}'
curl "${auth[@]}" "$api/consents/granted" | jq -c '[.consents[].id]'

job=$(curl "${auth[@]}" -F "image=@$image" -F "audio=@$audio" -F purpose=education \
        -F "consent_id=$consent" -F "params=${SONIC_PARAMS:-{\}}" "$api/generate")
status_url=$(jq -r .status_url <<<"$job")
while state=$(curl "${auth[@]}" "$api/$status_url") && \
      [[ $(jq -r .state <<<"$state") =~ ^(queued|running)$ ]]; do
  jq -c '.progress // {} | {stage, step, total}' <<<"$state"
  sleep 1
done
[ "$(jq -r .state <<<"$state")" = done ] || { jq -c .error <<<"$state"; exit 1; }

curl "${auth[@]}" -o "$out" "$api/$(jq -r .video_url <<<"$state")"
curl "${auth[@]}" -F "file=@$out;type=video/mp4" "$api/verify" \
  | jq -c '{verdict, consent: .consent_check.verdict}'
