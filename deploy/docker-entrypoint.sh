#!/bin/sh
# Entrypoint of the caseledger image: the first argument names what to run.
#   case | referral | disclosure | notification  -> services.<name>.main:create_app
#   credit-china                                 -> the Credit China simulator (non-production)
#   anything else                                -> executed as given
set -eu

PORT="${PORT:-8000}"
HOST="${HOST:-0.0.0.0}"

run_uvicorn() {
    # One process per container: scale with replicas, not uvicorn workers. Any further
    # arguments go to uvicorn (the services pass --factory: create_app reads the settings).
    app="$1"
    shift
    exec python -m uvicorn "$app" "$@" --host "$HOST" --port "$PORT" --no-access-log \
        --timeout-graceful-shutdown 20
}

case "${1:-}" in
    case|referral|disclosure|notification)
        run_uvicorn "services.$1.main:create_app" --factory
        ;;
    credit-china|credit_china)
        run_uvicorn "devtools.credit_china:app"
        ;;
    "")
        echo "usage: caseledger-entrypoint case|referral|disclosure|notification|credit-china" >&2
        exit 64
        ;;
    *)
        exec "$@"
        ;;
esac
