#!/usr/bin/env bash
# Writes infra/events/<group>/<function>.json: an API Gateway HTTP API event per route, made by
# `sam local generate-event apigateway http-api-proxy` from the bodies in infra/events/requests.json,
# with the local admin key of infra/env.json in its Authorization header. Use them with
# `sam local invoke <Group>Function -e infra/events/<group>/<function>.json --env-vars infra/env.json`.
# Likewise infra/events/api/{query,mutation}.json for the Convex function protocol (ApiFunction),
# from the bodies in infra/events/functions.json, with `Authorization: Convex <key>` as the npm
# client sends it.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(infra/scripts/tools.sh)
export SAM_CLI_TELEMETRY=0
python3 - "$bin/sam" <<'PY'
import json, subprocess, sys, pathlib
sam = sys.argv[1]
requests = json.loads(pathlib.Path("infra/events/requests.json").read_text())
functions = json.loads(pathlib.Path("infra/events/functions.json").read_text())
key = json.loads(pathlib.Path("infra/env.json").read_text())["Parameters"]["CONVEX_ADMIN_KEY"]
for path, body in [*requests.items(), *functions.items()]:
    out = subprocess.run(
        [sam, "local", "generate-event", "apigateway", "http-api-proxy",
         "--path", path.lstrip("/"), "--method", "POST", "--body", json.dumps(body)],
        check=True, capture_output=True, text=True).stdout
    event = json.loads(out)
    scheme = "Convex" if path in functions else "Bearer"
    event["headers"] = {"authorization": f"{scheme} {key}", "content-type": "application/json", "user-agent": "sam-sample-event"}
    group, function = path.strip("/").split("/")
    target = pathlib.Path("infra/events") / group / f"{function}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(event, indent=2) + "\n")
    print(f"wrote {target}")
PY
