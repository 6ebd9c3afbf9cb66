#!/bin/sh
# A scripted browser for the tests, set as BROWSER. It loads the sign-in URL
# from the fake Entra server, which returns a redirect once the "person" has
# signed in, then loads that redirect from the tool's loopback listener, as a
# real browser does.
#
#   FAKE_BROWSER_MODE   follow (default); tamper-state: change `state` before
#                       loading the redirect; favicon-first: request
#                       /favicon.ico from the listener first; stay: load the
#                       sign-in page and never follow the redirect
#   FAKE_BROWSER_PAGE   file that receives the page the listener served
#   FAKE_BROWSER_LOG    file that receives the URLs this script saw
#
# Every request has a time limit, so the script always ends on its own.
set -eu

url="$1"
log="${FAKE_BROWSER_LOG:-/dev/null}"
page="${FAKE_BROWSER_PAGE:-/dev/null}"
# A last log line of `done` marks the end of the script for the tests.
trap 'printf "done\n" >>"$log"' EXIT
printf 'authorize %s\n' "$url" >>"$log"

location=$(curl --silent --show-error --max-time 10 --output /dev/null \
  --write-out '%{redirect_url}' "$url")
printf 'location %s\n' "$location" >>"$log"
# No redirect: the sign-in page showed an error, as for an unknown app.
[ -n "$location" ] || exit 0

case "${FAKE_BROWSER_MODE:-follow}" in
  stay)
    exit 0
    ;;
  tamper-state)
    location=$(printf '%s' "$location" | sed 's/state=[^&]*/state=forged-by-test/')
    ;;
  favicon-first)
    origin=$(printf '%s' "$location" | sed -E 's#^(http://[^/?]+).*#\1#')
    curl --silent --max-time 10 --output /dev/null "$origin/favicon.ico" || true
    ;;
esac
printf 'loading %s\n' "$location" >>"$log"
curl --silent --show-error --max-time 10 --output "$page" "$location"
