#!/usr/bin/env bash
# browser.sh - the browser tests' plumbing: Debian's Chromium starts headless
# under puppeteer-core (installed by `make deps` into tests/browser), runs a
# page's script and draws its SVG (tests/browser/smoke.js).  The dashboard's
# and the HTML report's own browser tests build on the same tests/browser/lib.js.
. "$(dirname "$0")/lib.sh"

browser smoke.js
done_testing
