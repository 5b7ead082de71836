// report.js FILE [STEPS] [NASTY] - the HTML report of `hgslab run --report html`
// in headless Chromium, as a person would check it: every step of the run is
// on the page (as many as the report's own JSON data has, and STEPS when
// given), every exchange a step caused has its sequence diagram, a refused
// start's diagram is marked failed (its failing check named when the exchange
// has a trace), no label overlaps another, the page logs no error and asks no
// other origin for anything.  With NASTY, that string (a scenario
// description full of markup) is shown as text and nothing of it runs.
// Without it, the renderer web/seq.js is also checked alone on exchanges
// shaped like the trace contract (a failing check, a null trace, too many
// steps).  Saves screenshots named after FILE and seq-contract.
'use strict';
const fs = require('fs');
const path = require('path');
const { check, shot, until, run } = require('./lib');

const file = path.resolve(process.argv[2]);
const wantSteps = process.argv[3] ? Number(process.argv[3]) : null;
const nasty = process.argv[4] || null;

// The run's data as the page has it: the JSON inside <script id="hgslab-report-data">.
function reportData(html) {
	const m = /<script type="application\/json" id="hgslab-report-data">([\s\S]*?)<\/script>/.exec(html);
	return m ? JSON.parse(m[1]) : null;
}

// In the page: the diagrams' labels wider than their room or overlapping another, as sentences.
function layoutFaults() {
	const bad = [];
	document.querySelectorAll('svg.hgslab-seq').forEach((svg, k) => {
		const boxes = [...svg.querySelectorAll('text')].map((t) => {
			const b = t.getBBox();
			const max = Number(t.getAttribute('data-max') || 0);
			const w = t.getAttribute('textLength') ? Number(t.getAttribute('textLength'))
				: t.getComputedTextLength();
			if (max && w > max + 1)
				bad.push(`diagram ${k}: "${t.textContent}" is ${w} wide for ${max}`);
			return { t: t.textContent, x: b.x, y: b.y, w: Math.min(b.width, max || b.width), h: b.height };
		});
		for (let i = 0; i < boxes.length; i++)
			for (let j = i + 1; j < boxes.length; j++) {
				const a = boxes[i], b = boxes[j];
				const dx = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
				const dy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
				if (dx > 1 && dy > 2)
					bad.push(`diagram ${k}: "${a.t}" overlaps "${b.t}"`);
			}
	});
	return bad;
}

run(async (browser) => {
	const html = fs.readFileSync(file, 'utf8');
	const data = reportData(html);
	if (!check(data !== null, 'the report carries its data as JSON in one script element'))
		return;
	const steps = [].concat(...data.Scenarios.map((s) => s.Steps));
	const exchanges = [].concat(...steps.map((s) => s.Exchanges));

	const page = await browser.newPage();
	const errors = [], foreign = [];
	const self = 'file://' + file;
	page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
	page.on('pageerror', (e) => errors.push(String(e)));
	page.on('dialog', async (d) => { errors.push('dialog: ' + d.message()); await d.dismiss(); });
	page.on('request', (r) => {
		const u = r.url();
		if (u !== self && !u.startsWith('data:'))
			foreign.push(u);
	});
	await page.setViewport({ width: 900, height: 900 });
	await page.goto(self, { waitUntil: 'load' });
	await until(page, (n) => document.querySelectorAll('li.step').length >= n, 5000, steps.length);
	await new Promise((r) => setTimeout(r, 200));  // the diagrams' fit pass (requestAnimationFrame)

	const seen = await page.evaluate(() => [...document.querySelectorAll('li.step')].map((li) => ({
		mark: li.querySelector('.mark').textContent,
		kind: li.querySelector('.kind').textContent,
		title: li.querySelector('.title').textContent,
		dur: li.querySelector('.dur').textContent,
		figures: li.querySelectorAll('figure.exchange').length,
		svgs: [...li.querySelectorAll('figure.exchange')].map((f) => {
			const svg = f.querySelector('svg');
			return svg ? {
				steps: svg.querySelectorAll('.seq-step').length,
				fail: svg.querySelectorAll('.seq-fail').length,
				checks: [...svg.querySelectorAll('[data-check]')].map((e) => e.getAttribute('data-check')),
				vtpm: [...svg.querySelectorAll('.seq-step.seq-pass')].some((g) =>
					/opened the vTPM/.test(g.textContent)),
			} : null;
		}),
	})));
	check(seen.length === steps.length && steps.length > 0,
		`the page shows every step of the run (${seen.length} of ${steps.length})`);
	if (wantSteps !== null)
		check(seen.length === wantSteps, `the page shows the scenario's ${wantSteps} steps`, seen.length);
	check(seen.every((s, i) => s.title === steps[i].Title && s.kind === steps[i].Kind &&
		s.mark === (steps[i].Passed ? '\u2713' : '\u2717') && /^\d+\.\d\d s$/.test(s.dur)),
	'each step shows its mark, kind, title and time as the run recorded them',
	JSON.stringify(seen.map((s) => [s.mark, s.kind, s.title, s.dur])));
	const nfig = seen.reduce((a, s) => a + s.figures, 0);
	check(exchanges.length > 0 && nfig === exchanges.length,
		`every exchange has its figure (${nfig} of ${exchanges.length})`);
	check(seen.every((s) => s.svgs.every((d) => d && d.steps >= 2)),
		'every exchange has a rendered SVG sequence diagram (request and answer at least)');

	// the refused start on the host booted with debugging on
	const at = steps.findIndex((s) => s.Kind === 'start' && s.Got === 'refused' &&
		/DebugMode/.test(s.Expected || ''));
	if (wantSteps !== null && !nasty) {
		check(at >= 0 && seen[at].figures > 0, 'the refused start has the diagram of its exchange',
			at >= 0 ? JSON.stringify(seen[at]) : 'no refused start step');
		if (at >= 0) {
			check(seen[at].svgs.some((d) => d && d.fail > 0),
				'the refused start\'s diagram marks the refusal (an element of class seq-fail)',
				JSON.stringify(seen[at].svgs));
			check(steps[at].Exchanges.some((e) => e.Trace),
				'the refused start\'s exchanges carry HGS\'s trace');
			check(seen[at].svgs.some((d) => d && d.checks.some((c) => /^Hgs_/.test(c))),
				'the refused start\'s diagram names its failing check (data-check="Hgs_...")',
				JSON.stringify(seen[at].svgs));
		}
		// the start that ran: after KPS released the key, the host opened the vTPM
		const ran = steps.findIndex((s) => s.Kind === 'start' && s.Got === 'running');
		check(ran >= 0 && steps[ran].Exchanges.some((e) => e.Result === 'Released') &&
			seen[ran].svgs.some((d) => d && d.vtpm),
		'the running start\'s key release diagram ends with the host opening the vTPM',
		ran >= 0 ? JSON.stringify(seen[ran].svgs) : 'no running start step');
	}

	// labels fit their room and no two texts of a diagram overlap
	const layout = await page.evaluate(layoutFaults);
	check(layout.length === 0, 'every diagram label fits its room and overlaps no other', layout.join('\n'));

	if (nasty) {
		const shown = await page.evaluate(() => ({
			desc: [...document.querySelectorAll('.description')].map((e) => e.textContent),
			imgs: document.querySelectorAll('img').length,
			scripts: document.querySelectorAll('script').length,
			owned: window.hgslabOwned === true,
		}));
		check(shown.desc.includes(nasty) && shown.imgs === 0 && shown.scripts === 3 && !shown.owned,
			'markup in the run\'s strings is shown as text: no element of it, nothing of it runs',
			JSON.stringify(shown));
	}
	check(errors.length === 0, 'the page logs no error', errors.join('\n'));
	check(foreign.length === 0, 'the page requests nothing (no other origin, no asset)', foreign.join('\n'));
	await shot(page, 'report-' + path.basename(file).replace(/\.html$/, ''));
	if (!nasty)
		await contract(browser);
});

// An attestation refused for boot debugging, traced as the trace contract says (common to the
// dashboard and the report): what seq.js must draw from it.
const TRACED = {
	Id: 7, Host: 'FabricHost2', Hgs: 'MyHgsService', Status: 'InsecureHostConfiguration',
	SubStatus: ['DebugMode'], Reason: 'boot debugging is enabled (PCR 12)',
	Trace: { Kind: 'Attestation', Participants: ['Host', 'HGS'], Steps: [
		{ From: 'Host', To: 'HGS', Kind: 'Message', Label: 'POST /Attestation/v1/nonce' },
		{ From: 'HGS', To: 'Host', Kind: 'Message', Label: 'a fresh nonce (3f2a\u2026)' },
		{ From: 'Host', To: 'HGS', Kind: 'Message',
		  Label: 'POST /Attestation/attest: EK certificate, AK, TCG log, quote over the nonce' },
		{ From: 'HGS', To: 'HGS', Kind: 'Check', Check: 'Hgs_TpmEkCertificate', Verdict: 'Pass',
		  Label: 'the EK certificate chains to a trusted TPM vendor' },
		{ From: 'HGS', To: 'HGS', Kind: 'Check', Check: 'Hgs_SecureBootEnabled', Verdict: 'Skip',
		  Label: 'disabled by the HGS admin' },
		{ From: 'HGS', To: 'HGS', Kind: 'Check', Check: 'Hgs_UefiDebugDisabled', Verdict: 'Fail',
		  Label: 'boot debugging is off',
		  Detail: 'PCR 12 event 3 EV_EVENT_TAG says boot debugging was on; ' + 'a'.repeat(120) +
			' <img src=x onerror="window.hgslabOwned=true">' },
		{ From: 'HGS', To: 'HGS', Kind: 'Check', Check: 'Hgs_FullBoot', Verdict: 'Info',
		  Label: 'a full boot, not a resume from hibernation' },
		{ From: 'HGS', To: 'Host', Kind: 'Message', Label: 'InsecureHostConfiguration (DebugMode)' },
	] },
};

// The renderer alone on contract-shaped entries: classes, the failing check, null traces, limits.
async function contract(browser) {
	const seqJs = fs.readFileSync(path.join(__dirname, '..', '..', 'web', 'seq.js'), 'utf8');
	const page = await browser.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(String(e)));
	page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
	await page.setViewport({ width: 760, height: 900 });
	await page.setContent('<!DOCTYPE html><meta charset="utf-8"><body style="font:15px sans-serif">' +
		'<div id="d" style="width:700px"></div><script>' + seqJs + '</script>');
	const got = await page.evaluate((traced) => {
		const d = document.getElementById('d');
		const long = JSON.parse(JSON.stringify(traced));
		for (let i = 0; i < 70; i++)
			long.Trace.Steps.splice(3, 0, { From: 'HGS', To: 'HGS', Kind: 'Check', Check: `Hgs_X${i}`,
				Verdict: 'Pass', Label: 'filler' });
		long.Trace.StepsDropped = 5;            // HGS's own cap left 5 out
		const release = { Id: 2, Host: 'FabricHost2', Result: 'Refused', Reason: 'NoHealthCertificate',
			Message: 'no health certificate', Trace: null };
		const out = {};
		for (const [name, e] of [['traced', traced], ['long', long], ['release', release],
			['empty', {}]]) {
			const svg = HgslabSeq.render(e);
			d.appendChild(svg);
			HgslabSeq.fit(svg);
			const steps = [...svg.querySelectorAll('.seq-step')];
			out[name] = {
				svg: svg.namespaceURI === 'http://www.w3.org/2000/svg' && svg.localName === 'svg',
				n: steps.length,
				kinds: steps.map((g) => ['pass', 'fail', 'skip', 'info', 'msg']
					.filter((k) => g.classList.contains('seq-' + k)).join('+')),
				checks: [...svg.querySelectorAll('[data-check]')].map((g) => ({
					name: g.getAttribute('data-check'), fail: g.classList.contains('seq-fail'),
					text: g.textContent })),
				notes: [...svg.querySelectorAll('.seq-note')].map((t) => t.textContent),
			};
		}
		out.imgs = document.querySelectorAll('img').length;
		out.owned = window.hgslabOwned === true;
		return out;
	}, TRACED);
	const t = got.traced;
	check(t.svg && t.n === 8 && t.kinds.join(' ') === 'msg msg msg pass skip fail info fail',
		'seq.js: one seq-step per trace step, each of exactly one kind (msg, pass, skip, fail, info; ' +
		'the refusal back to the host seq-fail)', JSON.stringify(t));
	check(t.checks.length === 1 && t.checks[0].name === 'Hgs_UefiDebugDisabled' && t.checks[0].fail &&
		t.checks[0].text.includes('Hgs_UefiDebugDisabled'),
	'seq.js: the failing check carries data-check="Hgs_UefiDebugDisabled", seq-fail, and its name',
	JSON.stringify(t.checks));
	check(got.long.n === 64 && got.long.notes.some((s) => /\b19 more steps not drawn/.test(s)),
		'seq.js: at most 64 steps drawn, the rest and StepsDropped counted in a note (14 + 5)',
		JSON.stringify(got.long.notes));
	check(got.release.n === 2 && got.release.kinds.join(' ') === 'msg fail' &&
		got.release.notes.some((s) => /no trace/.test(s)),
	'seq.js: a null Trace draws the request and the refused answer only, and says so',
	JSON.stringify(got.release));
	check(got.empty.svg && got.empty.n === 2, 'seq.js: an empty entry still draws (no exception)',
		JSON.stringify(got.empty));
	check(got.imgs === 0 && !got.owned, 'seq.js: markup in a label is text, never an element');
	const layout = await page.evaluate(layoutFaults);
	check(layout.length === 0, 'seq.js: labels of the contract diagrams fit and overlap nothing',
		layout.join('\n'));
	check(errors.length === 0, 'seq.js: no error while rendering', errors.join('\n'));
	await shot(page, 'seq-contract');
}
