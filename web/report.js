/*
 * report.js - the page of `hgslab run --report html` (sim/report_html.c):
 * reads the run (the JSON report's document, inline in the script element
 * hgslab-report-data) and builds every scenario and every step
 * (mark, index, kind, title, timing, expected / got, reason, remedy,
 * concept, the failure's message) with the sequence diagram of each exchange
 * the step caused, drawn by web/seq.js (HgslabSeq, the dashboard's renderer).
 * Strings of the run are untrusted: they enter the page as text only.
 */
(function () {
	'use strict';

	// An element TAG with class CLS and text TEXT (when not undefined), appended to PARENT.
	function h(tag, cls, text, parent) {
		const e = document.createElement(tag);
		if (cls)
			e.className = cls;
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		if (parent)
			parent.appendChild(e);
		return e;
	}

	// Seconds as "1.23 s".
	function secs(v) {
		const n = Number(v);
		return (isFinite(n) && n > 0 ? n : 0).toFixed(2) + ' s';
	}

	// A term and its value in the <dl> DL when the value is not empty.
	function item(dl, term, value) {
		if (value === undefined || value === null || value === '')
			return;
		h('dt', null, term, dl);
		h('dd', null, value, dl);
	}

	// The exchange ENTRY as a <figure>: its one-line summary and its sequence diagram.
	function exchange(entry, parent) {
		const fig = h('figure', 'exchange', null, parent);
		const cap = h('figcaption', null, null, fig);
		h('span', 'ex-what', HgslabSeq.summary(entry), cap);
		const when = [entry.Hgs, entry.Time].filter((x) => x).join(' \u00b7 ');
		if (when)
			h('span', 'ex-when', when, cap);
		const svg = HgslabSeq.render(entry);
		fig.appendChild(svg);
		fig.classList.add(entry.Status === 'Passed' || entry.Result === 'Released' ? 'pass' : 'fail');
	}

	// The step ST of a scenario as an <li>.
	function step(st, parent) {
		const li = h('li', 'step ' + (st.Passed ? 'pass' : 'fail'), null, parent);
		li.dataset.index = String(st.Index);
		const head = h('div', 'step-head', null, li);
		h('span', 'mark', st.Passed ? '\u2713' : '\u2717', head).title = st.Passed ? 'passed' : 'failed';
		h('span', 'index', st.Index, head);
		h('span', 'kind', st.Kind, head);
		h('span', 'title', st.Title, head);
		if (st.Got)
			h('span', 'got', '\u2192 ' + st.Got, head);
		h('span', 'dur', secs(st.DurationSeconds), head);

		const dl = h('dl', 'facts', null, li);
		item(dl, 'expected', st.Expected);
		item(dl, 'got', st.Got);
		if (st.Substatus && String(st.Got || '').indexOf(st.Substatus) < 0)
			item(dl, 'substatus', st.Substatus);
		item(dl, 'reason', st.Reason);
		item(dl, 'remedy', st.Remedy);
		if (!dl.childNodes.length)
			dl.remove();
		if (st.Concept)
			h('p', 'concept', st.Concept, li);
		if (!st.Passed)
			h('p', 'message', (st.Line ? `line ${st.Line}: ` : '') +
				(st.Message || `expected ${st.Expected || 'something'}, got ${st.Got || 'nothing'}`), li);
		const ex = (Array.isArray(st.Exchanges) ? st.Exchanges : [])
			.map((e) => e && typeof e === 'object' ? Object.assign({}, e) : {});
		// a VM that ended the step running: its host opened the vTPM with the last key released
		if (st.Got === 'running') {
			const rel = ex.filter((e) => e.Result === 'Released').pop();
			if (rel)
				rel.After = [HgslabSeq.hostOpened(null)];
		}
		if (ex.length) {
			const box = h('div', 'exchanges', null, li);
			ex.forEach((e) => exchange(e, box));
		}
	}

	// Scenario SC (number I) as a <section>.
	function scenario(sc, i, parent) {
		const steps = Array.isArray(sc.Steps) ? sc.Steps : [];
		const passed = steps.filter((s) => s.Passed).length;
		const sec = h('section', 'scenario ' + (sc.Passed ? 'pass' : 'fail'), null, parent);
		sec.id = `scenario-${i + 1}`;
		const h2 = h('h2', null, null, sec);
		h('span', 'mark', sc.Passed ? '\u2713' : '\u2717', h2);
		h('span', 'name', sc.Name, h2);
		h('span', 'badge', sc.Passed ? 'passed' : sc.Error ? 'error' : 'failed', h2);
		if (sc.Description)
			h('p', 'description', sc.Description, sec);
		const dl = h('dl', 'meta', null, sec);
		item(dl, 'file', sc.File);
		item(dl, 'steps', `${passed} of ${steps.length} passed`);
		item(dl, 'time', `${secs(sc.DurationSeconds)} (fabric up in ${secs(sc.SetupSeconds)})`);
		if (sc.Error)
			h('p', 'error', 'Error: ' + sc.Error, sec);
		const ol = h('ol', 'steps', null, sec);
		steps.forEach((st) => step(st || {}, ol));
	}

	// The whole page from the inline data.
	function main() {
		const root = document.getElementById('report');
		const data = JSON.parse(document.getElementById('hgslab-report-data').textContent);
		const list = Array.isArray(data.Scenarios) ? data.Scenarios : [];
		let nsteps = 0, nfailed = 0, nex = 0;
		list.forEach((sc) => (sc.Steps || []).forEach((st) => {
			nsteps++;
			nfailed += !st.Passed;
			nex += Array.isArray(st.Exchanges) ? st.Exchanges.length : 0;
		}));
		root.textContent = '';
		const head = h('header', null, null, root);
		h('h1', null, 'hgslab run report', head);
		h('p', 'summary ' + (data.Failed ? 'fail' : 'pass'),
			`${list.length} scenario${list.length === 1 ? '' : 's'}: ${data.Passed} passed, ` +
			`${data.Failed} failed \u00b7 ${nsteps} steps, ${nfailed} failed \u00b7 ` +
			`${nex} exchange${nex === 1 ? '' : 's'} with HGS`, head);
		if (list.length > 1) {
			const nav = h('nav', null, null, head);
			const ul = h('ul', null, null, nav);
			list.forEach((sc, i) => {
				const a = h('a', sc.Passed ? 'pass' : 'fail', (sc.Passed ? '\u2713 ' : '\u2717 ') + sc.Name,
					h('li', null, null, ul));
				a.href = `#scenario-${i + 1}`;
			});
		}
		document.title = `hgslab run report: ${data.Passed} passed, ${data.Failed} failed`;
		list.forEach((sc, i) => scenario(sc || {}, i, root));
		// labels wider than estimated are squeezed once the page is laid out (one pass)
		document.querySelectorAll('svg.hgslab-seq').forEach(HgslabSeq.fit);
	}

	main();
})();
