"""Checks racecast's live timing page (`racecast run --serve`, issue 25) in a
real browser: opens the page in headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium), waits until the page says the run has
ended (`#status[data-state="ended"]`), then prints the classification tower
as the page shows it, one JSON object per row in the page's (position)
order:

    {"car_number": int, "position": int, "laps_completed": int,
     "best_lap_ms": int|null, "gap_to_leader_ms": int|null, "fastest_lap": bool}

and saves a screenshot. The rows come from the tower's data attributes
(`<tr class="car-row" data-car data-position data-laps data-best-ms
data-gap-ms data-fastest>`), so a test can compare them with the final
`gold.session_metrics` of the session the page shows.

    python3 live_page.py --url http://127.0.0.1:PORT/ --screenshot OUT.png [--timeout 120]

Exit status: 0 when the page ended with no error in the browser's console;
1 when it did not end within --timeout seconds (or the browser could not
start or load the page); 2 when the console has SEVERE entries (JavaScript
errors, failed requests, and the page's own `console.error` on a feed that
breaks the contract), printed to stderr. The rows are printed and the
screenshot saved in every case the page could be loaded, to help diagnose.
"""

import argparse
import json
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

ROWS_JS = """
return Array.from(document.querySelectorAll('#tower tr.car-row')).map(tr => ({
  car: tr.dataset.car, position: tr.dataset.position, laps: tr.dataset.laps,
  best: tr.dataset.bestMs, gap: tr.dataset.gapMs, fastest: tr.dataset.fastest,
}));
"""
STATE_JS = "const s = document.getElementById('status'); return s ? s.dataset.state : null;"


def fail(status, message):
    print(f"live_page.py: {message}", file=sys.stderr)
    sys.exit(status)


def optional_int(text):
    return int(text) if text not in (None, "") else None


def rows(driver):
    out = []
    for r in driver.execute_script(ROWS_JS):
        out.append({
            "car_number": int(r["car"]),
            "position": optional_int(r["position"]),
            "laps_completed": int(r["laps"]),
            "best_lap_ms": optional_int(r["best"]),
            "gap_to_leader_ms": optional_int(r["gap"]),
            "fastest_lap": r["fastest"] == "true",
        })
    return out


def browser(args, profile):
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
        "--hide-scrollbars", "--force-device-scale-factor=1",
        f"--window-size={args.width},{args.height}", f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=args.chromedriver), options=options)


def main():
    ap = argparse.ArgumentParser(description="Checks the live timing page in headless Chromium.")
    ap.add_argument("--url", required=True, help="the page, e.g. http://127.0.0.1:8080/")
    ap.add_argument("--screenshot", required=True, help="where to save a PNG of the page")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the end (default 120)")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    ap.add_argument("--chromedriver", default=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1000)
    args = ap.parse_args()

    deadline = time.monotonic() + args.timeout
    with tempfile.TemporaryDirectory(prefix="live_page.") as profile:
        try:
            driver = browser(args, profile)
        except WebDriverException as e:
            fail(1, f"could not start Chromium ({args.chromium}, {args.chromedriver}): {e.msg}")
        try:
            status = check(driver, args, deadline)
        finally:
            driver.quit()
    sys.exit(status)


def check(driver, args, deadline):
    try:
        driver.set_window_size(args.width, args.height)
        driver.set_page_load_timeout(max(1.0, deadline - time.monotonic()))
        driver.get(args.url)
    except WebDriverException as e:
        fail(1, f"could not load {args.url}: {e.msg}")
    state = None
    while time.monotonic() < deadline:
        state = driver.execute_script(STATE_JS)
        if state == "ended":
            break
        time.sleep(0.2)
    for row in rows(driver):
        print(json.dumps(row))
    sys.stdout.flush()
    driver.save_screenshot(args.screenshot)
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    if state != "ended":
        for e in severe:
            print(f"console: {e.get('source', '?')}: {e.get('message')}", file=sys.stderr)
        print(f"live_page.py: the page did not end within {args.timeout:g} s "
              f"(#status data-state is {state!r}); screenshot in {args.screenshot}", file=sys.stderr)
        return 1
    if severe:
        for e in severe:
            print(f"console: {e.get('source', '?')}: {e.get('message')}", file=sys.stderr)
        print(f"live_page.py: {len(severe)} SEVERE console entr{'y' if len(severe) == 1 else 'ies'}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    main()
