// dashboard.js - the live dashboard in a real browser, against a fabric the
// test brought up (tests/cli/dashboard.sh: `hgslab up --play` of the article
// walkthrough).  Usage: dashboard.js URL TOKEN HEALTHY_HOST.  What a person
// would check: every host shows its status; the sequence diagram of the
// refused VM start marks its failing check; a teacher action without the
// token is refused and with it works: rebooting HEALTHY_HOST into debug=on
// turns its card to InsecureHostConfiguration (DebugMode) without a page
// reload; the host and VM pages say what they should; no request leaves
// the dashboard's origin.  Screenshots: dashboard, dashboard-event,
// dashboard-host, dashboard-debug.
'use strict';
const { check, run, shot, until } = require('./lib');

const [url, token, host] = process.argv.slice(2);

run(async (browser) => {
	const origin = new URL(url).origin;
	const page = await browser.newPage();
	const foreign = [];
	const errors = [];
	page.on('request', (r) => {
		if (!r.url().startsWith(origin + '/') && !r.url().startsWith('data:'))
			foreign.push(r.url());
	});
	page.on('pageerror', (e) => errors.push(String(e)));
	await page.setViewport({ width: 1400, height: 1000 });
	await page.goto(url, { waitUntil: 'domcontentloaded' });

	const fabric = await page.evaluate(async () => (await fetch('/api/fabric')).json());
	const names = (fabric.Hosts || []).map((h) => h.Name);
	check(names.length >= 2, 'the API lists the fabric\'s hosts', JSON.stringify(fabric).slice(0, 400));
	const drawn = await until(page, (n) => document.querySelectorAll('.card.host .host-status').length === n &&
		[...document.querySelectorAll('.card.host .host-status')].every((s) => s.textContent.trim().length > 0),
		15000, names.length);
	check(drawn, 'every host shows its attestation status on its card');
	for (const h of fabric.Hosts || []) {
		const text = await page.$eval(`.card.host[data-host="${h.Name}"] .host-status`, (s) => s.textContent).catch(() => '');
		check(text === h.StatusWords, `host ${h.Name}'s card says '${h.StatusWords}'`, text);
		const cls = await page.$eval(`.card.host[data-host="${h.Name}"]`, (c) => c.className).catch(() => '');
		check(h.Status === 'Passed' ? /\bok\b/.test(cls) : /\b(bad|warn)\b/.test(cls),
			`host ${h.Name}'s card has the colour of ${h.Status}`, cls);
	}
	check(await until(page, () => document.querySelectorAll('#events .event').length > 0, 15000),
		'the live event list shows the fabric\'s attestations and key releases');
	check(await until(page, () => document.getElementById('live').textContent === 'live', 10000),
		'the event stream is connected');
	await shot(page, 'dashboard');

	// the refused start: its attestation, failed, on the unhealthy host
	const refused = await page.$('#events .event[data-kind="Attestation"][data-ok="0"]:not([data-host="' + host + '"])');
	check(refused !== null, 'the refused VM start\'s attestation is in the event list');
	if (refused) {
		await refused.click();
		const marked = await until(page, () => document.querySelector('#detail:not([hidden]) .seq-fail') !== null, 10000);
		check(marked, 'its sequence diagram marks the failing check (seq-fail)');
		const checked = await page.evaluate(() => {
			const f = document.querySelector('#detail .seq-fail');
			return { check: f && f.getAttribute('data-check'), traced: !!document.querySelector('#detail [data-check]'),
				steps: document.querySelectorAll('#detail .seq-step').length };
		});
		check(checked.steps >= 2, 'the diagram draws the exchange\'s steps', JSON.stringify(checked));
		check(/^Hgs_/.test(checked.check || ''), 'the marked check is the failing Hgs_* policy of HGS\'s trace',
			JSON.stringify(checked));
		console.log(`# failing check: ${checked.check}`);
		await shot(page, 'dashboard-event');
	}

	// the host page: measured boot and policy table
	await page.evaluate((h) => { location.hash = 'host/' + h; }, host);
	check(await until(page, () => document.querySelectorAll('#detail table').length >= 3, 15000),
		'the host page shows its PCRs, its TCG log events and the policy table');
	const hostText = await page.$eval('#detail', (d) => d.textContent);
	check(/Secure Boot/.test(hostText) && /EV_SEPARATOR/.test(hostText) && /Hgs_UefiDebugDisabled/.test(hostText),
		'the host page explains PCR 7, lists the log\'s events and the Hgs_* policies', hostText.slice(0, 300));
	await shot(page, 'dashboard-host');

	// the VM page: owner, guardians, where it may run and why
	const vm = (fabric.Vms || [])[0];
	if (vm) {
		await page.evaluate((v) => { location.hash = 'vm/' + v; }, vm.Name);
		check(await until(page, () => /may run/.test(document.getElementById('detail').textContent) &&
			document.querySelectorAll('#detail table tr').length > 1, 10000), 'the VM page says where it may run and why');
		const vmText = await page.$eval('#detail', (d) => d.textContent);
		check(vmText.includes(host) && /passed attestation/.test(vmText), 'the VM page names the healthy host and the reason', vmText.slice(0, 300));
	}

	// teacher actions: refused without the token, with a wrong one; done with it
	const noToken = await page.evaluate(async (h) => {
		const r = await fetch('/api/action', { method: 'POST', body: JSON.stringify({ Action: 'reboot-host', Host: h, Profile: 'baseline,debug=on' }) });
		return { status: r.status, body: await r.json() };
	}, host);
	check(noToken.status === 403 && /token/.test(noToken.body.error || ''), 'a teacher action without the token is refused (403, says why)', JSON.stringify(noToken));
	const wrong = await page.evaluate(async (h) => {
		const r = await fetch('/api/action', { method: 'POST', headers: { 'X-Hgslab-Token': '00' }, body: JSON.stringify({ Action: 'reboot-host', Host: h }) });
		return r.status;
	}, host);
	check(wrong === 403, 'a teacher action with a wrong token is refused (403)', wrong);

	// the reboot through the page itself: the token typed, the profile chosen, the button
	await page.evaluate(() => { location.hash = ''; window.hgslabMarker = 'no reload'; });
	await page.type('#token', token);
	const card = `.card.host[data-host="${host}"]`;
	await page.$eval(`${card} input`, (i) => { i.value = 'baseline,debug=on'; });
	await page.click(`${card} button`);
	const turned = await until(page, (sel) => {
		const s = document.querySelector(sel + ' .host-status');
		return s && s.textContent === 'InsecureHostConfiguration (DebugMode)';
	}, 120000, card);
	check(turned, `after the reboot into debug=on, ${host}'s card says InsecureHostConfiguration (DebugMode)`,
		await page.$eval(card, (c) => c.textContent).catch((e) => String(e)));
	check(await page.evaluate(() => window.hgslabMarker === 'no reload'), 'the card changed without a page reload');
	check(await until(page, (h) => [...document.querySelectorAll('#events .event[data-kind="HostStatus"]')]
		.some((e) => e.getAttribute('data-host') === h), 10000, host), 'the status change is in the live event list');
	await shot(page, 'dashboard-debug');

	check(foreign.length === 0, 'no request left the dashboard\'s origin', foreign.join('\n'));
	check(errors.length === 0, 'the page ran without a script error', errors.join('\n'));
});
