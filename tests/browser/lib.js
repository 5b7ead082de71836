// lib.js - what every browser test of hgslab shares: Debian's Chromium
// started headless through puppeteer-core (nothing downloaded), checks that
// print one "PASS text" / "FAIL text" line each (tests/cli/lib.sh `browser`
// turns them into TAP), and screenshots saved under $HGSLAB_SHOTS
// (default tests/out/screenshots) for a person to look at.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

let failures = 0;

// Start Chromium headless with a fresh profile (removed by run()) and no background
// traffic (the machine's network is closed: Chromium's own connections would fail).
async function launch() {
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hgslab-chromium-'));
	const browser = await puppeteer.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		userDataDir: profile,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
			'--disable-dev-shm-usage'],
	});
	browser.hgslabProfile = profile;
	return browser;
}

// One check: PASS or FAIL with its text (and the detail of a failure as comments).
function check(cond, text, detail) {
	console.log(`${cond ? 'PASS' : 'FAIL'} ${text}`);
	if (!cond) {
		failures++;
		if (detail !== undefined)
			for (const line of String(detail).split('\n').slice(0, 10))
				console.log(`# ${line}`);
	}
	return !!cond;
}

// Save a screenshot of PAGE as NAME.png in the screenshots folder; its path.
async function shot(page, name) {
	const dir = process.env.HGSLAB_SHOTS ||
		path.join(__dirname, '..', 'out', 'screenshots');
	fs.mkdirSync(dir, { recursive: true });
	const file = path.join(dir, `${name}.png`);
	await page.screenshot({ path: file, fullPage: true });
	console.log(`# screenshot ${file}`);
	return file;
}

// Wait until FN (run in the page) is true, at most MS milliseconds; whether it became true.
async function until(page, fn, ms, ...args) {
	try {
		await page.waitForFunction(fn, { timeout: ms, polling: 100 }, ...args);
		return true;
	} catch (e) {
		return false;
	}
}

// Run MAIN(browser) and exit 0 when every check passed; an exception is one failure.
function run(main) {
	(async () => {
		let browser;
		try {
			browser = await launch();
			await main(browser);
		} catch (e) {
			check(false, 'the browser test ran to its end', e && e.stack ? e.stack : e);
		} finally {
			if (browser) {
				await browser.close().catch(() => {});
				fs.rmSync(browser.hgslabProfile, { recursive: true, force: true, maxRetries: 5 });
			}
		}
		process.exit(failures ? 1 : 0);
	})();
}

module.exports = { launch, check, shot, until, run };
