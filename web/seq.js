/*
 * seq.js - the sequence diagram of one exchange of the fabric: an
 * attestation (Host and HGS) or a key release (Host and KPS), drawn from the
 * entry of the HGS node's attestation or key protection log that recorded it
 * (its "Trace": docs/scenarios.md, and the trace contract of hgs/trace.h;
 * a trace's "StepsDropped" is counted in a note).
 * The dashboard of `hgslab up` and the HTML report of `hgslab run --report
 * html` both load this file; nothing else draws an exchange.
 *
 *   HgslabSeq.render(entry) -> an <svg> element (not yet in the document):
 *     a lifeline per participant, an arrow per message, a box on the
 *     lifeline per check; every step is a <g class="seq-step seq-KIND">,
 *     KIND one of pass / fail / skip / info (a check's verdict) or msg (a
 *     message); the answer back to the requester is seq-pass or seq-fail by
 *     the entry's outcome; a failing check has data-check="Hgs_..." and is
 *     drawn in red with its name.  A null Trace (an entry older than traces)
 *     draws the request and the answer only, from Status / Result / Reason.
 *   HgslabSeq.summary(entry) -> one line: "Attestation of FabricHost2:
 *     InsecureHostConfiguration (DebugMode)" (the reason is in the diagram).
 *   HgslabSeq.fit(svg) -> squeezes any label wider than its room (the
 *     layout estimates text widths; render() schedules this once the
 *     element is in the document, so labels never overlap).
 *   HgslabSeq.hostOpened(vm) -> the host's part after a key release, as a
 *     step for an entry's "After" list: the host unwrapped the TK and opened
 *     the VM's vTPM.  KPS cannot see it, so its trace ends with the answer;
 *     the caller adds it only when the VM was seen running after that
 *     release (the run report: the step's outcome; the dashboard: the VM's
 *     start event).  An entry's "After" steps (at most 4) are drawn after
 *     its trace.
 *
 * Every string of an entry is untrusted: text goes in with textContent only.
 * The diagram is 700 units wide and scales down with its container; long
 * labels wrap and, past a few lines, end with "…" and keep the full text in
 * a <title> tooltip.  Plain JavaScript, no library, no build step.
 */
(function (global) {
	'use strict';

	const NS = 'http://www.w3.org/2000/svg';
	const W = 700;            // width of the drawing, in user units (px at 1:1)
	const INSET = 90;         // lifelines of the outer participants, from the edges
	const CHAR_W = 6.9;       // a generous width of one 12px sans-serif character
	const LINE_H = 15;        // a text line
	const MAX_STEPS = 64;     // the trace contract's limit
	const COLOR = {
		pass: '#1a7f37', fail: '#cf222e', skip: '#6e7781', info: '#0969da', msg: 'currentColor',
	};
	const MARK = { pass: '\u2713', fail: '\u2717', skip: '\u2013', info: 'i', msg: '' };

	// NAME element of SVG with ATTRS, appended to PARENT when given.
	function el(name, attrs, parent) {
		const e = document.createElementNS(NS, name);
		for (const k in attrs)
			if (attrs[k] !== undefined && attrs[k] !== null)
				e.setAttribute(k, String(attrs[k]));
		if (parent)
			parent.appendChild(e);
		return e;
	}

	// V as a string ("" for null / undefined).
	function str(v) {
		return v === undefined || v === null ? '' : String(v);
	}

	// A <title> (tooltip) with TEXT as the first child of PARENT.
	function tip(parent, text) {
		const t = el('title', {});
		t.textContent = text;
		parent.insertBefore(t, parent.firstChild);
	}

	// TEXT in lines of at most MAX characters, at most LINES of them (the last ends with "…" when cut).
	function wrap(text, max, lines) {
		const out = [];
		let cur = '';
		max = Math.max(4, Math.floor(max));
		const words = str(text).replace(/\s+/g, ' ').trim().split(' ');
		for (let w of words) {
			if (!w)
				continue;
			while (w.length > max) {            // a word longer than a line: cut it
				if (cur) {
					out.push(cur);
					cur = '';
				}
				out.push(w.slice(0, max));
				w = w.slice(max);
			}
			if (!cur)
				cur = w;
			else if (cur.length + 1 + w.length <= max)
				cur += ' ' + w;
			else {
				out.push(cur);
				cur = w;
			}
		}
		if (cur)
			out.push(cur);
		if (out.length <= lines)
			return { lines: out, cut: false };
		const kept = out.slice(0, lines);
		let last = kept[lines - 1];
		if (last.length > max - 1)
			last = last.slice(0, max - 1);
		kept[lines - 1] = last + '\u2026';
		return { lines: kept, cut: true };
	}

	// The entry's trace object, or null (a string is parsed; anything else unusable is null).
	function traceOf(entry) {
		let t = entry ? entry.Trace : null;
		if (typeof t === 'string') {
			try {
				t = JSON.parse(t);
			} catch (e) {
				t = null;
			}
		}
		return t && typeof t === 'object' && Array.isArray(t.Steps) ? t : null;
	}

	// 1 for a key protection log entry, 0 for an attestation log entry.
	function isRelease(entry, trace) {
		if (trace && trace.Kind)
			return trace.Kind === 'KeyRelease';
		return entry && entry.Result !== undefined && entry.Status === undefined;
	}

	// 'pass', 'fail' or 'info': how the exchange ended for the requester.
	function outcome(entry) {
		if (!entry)
			return 'info';
		if (entry.Status !== undefined && entry.Status !== null)
			return entry.Status === 'Passed' ? 'pass' : 'fail';
		if (entry.Result !== undefined && entry.Result !== null)
			return entry.Result === 'Released' ? 'pass' : 'fail';
		return 'info';
	}

	// The answer as words: "InsecureHostConfiguration (DebugMode): boot debugging is on".
	function answer(entry) {
		let s;
		if (entry.Status !== undefined) {
			s = str(entry.Status) || 'no status';
			if (Array.isArray(entry.SubStatus) && entry.SubStatus.length)
				s += ' (' + entry.SubStatus.map(str).join(', ') + ')';
			if (entry.Reason)
				s += ': ' + str(entry.Reason);
		} else {
			s = str(entry.Result) || 'no result';
			if (entry.Reason)
				s += ' (' + str(entry.Reason) + ')';
			if (entry.Message)
				s += ': ' + str(entry.Message);
		}
		return s;
	}

	// One line saying what the exchange was and how it ended (the reason is the diagram's).
	function summary(entry) {
		const e = entry || {};
		const t = traceOf(e);
		const what = isRelease(e, t) ? 'Key release' : 'Attestation';
		let end = str(isRelease(e, t) ? e.Result : e.Status) || 'no answer';
		if (Array.isArray(e.SubStatus) && e.SubStatus.length)
			end += ' (' + e.SubStatus.map(str).join(', ') + ')';
		return what + (e.Host ? ' of ' + str(e.Host) : '') + ': ' + end;
	}

	// What the host did after KPS released the key to it, the VM VM now running (a step).
	function hostOpened(vm) {
		return { From: 'Host', To: 'Host', Kind: 'Check', Check: 'VtpmOpened', Verdict: 'Pass',
			 Label: 'the host unwrapped the TK with its TPM-held transport key and opened the ' +
				'vTPM' + (vm ? ' of ' + str(vm) : '') + ': the VM runs' };
	}

	// The entry's "After" steps (what the requester did with the answer), at most 4.
	function afterOf(entry) {
		return Array.isArray(entry.After) ?
			entry.After.filter((s) => s && typeof s === 'object').slice(0, 4) : [];
	}

	// The steps to draw: the trace's, or the request and the answer when there is none;
	// then the entry's After steps.
	function stepsOf(entry, trace, parts) {
		return stepsOfTrace(entry, trace, parts).concat(afterOf(entry));
	}

	// The trace's steps, or the request and the answer when there is none.
	function stepsOfTrace(entry, trace, parts) {
		if (trace)
			return trace.Steps.filter((s) => s && typeof s === 'object');
		const release = isRelease(entry, trace);
		return [
			{ From: parts[0], To: parts[1], Kind: 'Message',
			  Label: release ? 'key protector and health certificate: release the VM\'s key'
				: 'attestation request: EK certificate, AK, TCG log, quote over the nonce' },
			{ From: parts[1], To: parts[0], Kind: 'Message', Label: answer(entry) },
		];
	}

	// The class of step S (pass, fail, skip, info, msg); ANSWER is the outcome for the answer message.
	function stepClass(s, answerCls) {
		if (s.Kind === 'Check') {
			const v = str(s.Verdict);
			return v === 'Pass' ? 'pass' : v === 'Fail' ? 'fail' : v === 'Skip' ? 'skip' : 'info';
		}
		if (s.Kind === 'Message')
			return answerCls || 'msg';
		return 'info';
	}

	// Text lines LINES at X from Y (baseline of the first) in G; ATTRS for each; MAXW the room.
	function lines(g, x, y, list, attrs, maxw) {
		list.forEach((line, i) => {
			const t = el('text', Object.assign({ x: x, y: y + i * LINE_H, 'data-max': Math.round(maxw) },
				attrs), g);
			t.textContent = line;
		});
	}

	// An arrowhead at (X, Y) pointing right (DIR 1) or left (-1) in G.
	function head(g, x, y, dir, color) {
		el('polygon', { points: `${x},${y} ${x - dir * 9},${y - 4.5} ${x - dir * 9},${y + 4.5}`,
			fill: color }, g);
	}

	// Squeeze every label of SVG wider than its room (data-max) to that room.
	function fit(svg) {
		if (!svg || !svg.querySelectorAll)
			return;
		for (const t of svg.querySelectorAll('text[data-max]')) {
			const max = Number(t.getAttribute('data-max'));
			let w = 0;
			try {
				w = t.getComputedTextLength();
			} catch (e) {
				return;                         // not rendered (detached): nothing to measure
			}
			if (max > 0 && w > max) {
				t.setAttribute('textLength', String(max));
				t.setAttribute('lengthAdjust', 'spacingAndGlyphs');
			}
		}
	}

	// The sequence diagram of log entry ENTRY as an <svg> element.
	function render(entry) {
		const e = entry && typeof entry === 'object' ? entry : {};
		const trace = traceOf(e);
		const release = isRelease(e, trace);
		const parts = [];
		const add = (p) => {
			p = str(p);
			if (p && parts.indexOf(p) < 0 && parts.length < 6)
				parts.push(p);
		};
		if (trace && Array.isArray(trace.Participants))
			trace.Participants.forEach(add);
		if (!parts.length)
			['Host', release ? 'KPS' : 'HGS'].forEach(add);
		const all = stepsOf(e, trace, parts);
		all.forEach((s) => { add(s.From); add(s.To); });
		const steps = all.slice(0, MAX_STEPS);
		const ended = outcome(e);
		let answerAt = -1;                      // the last message back to the requester
		steps.forEach((s, i) => {
			if (s.Kind === 'Message' && str(s.To) === parts[0] && str(s.From) !== parts[0])
				answerAt = i;
		});

		const n = parts.length;
		const xs = parts.map((_, i) => n === 1 ? W / 2 : INSET + i * (W - 2 * INSET) / (n - 1));
		const xOf = (p) => xs[Math.max(0, parts.indexOf(str(p)))];
		const svg = el('svg', { class: 'hgslab-seq', width: W, role: 'img',
			'font-family': 'system-ui, -apple-system, "Segoe UI", sans-serif', 'font-size': 12,
			style: 'max-width:100%;height:auto;color:inherit' });
		const what = summary(e);
		svg.setAttribute('aria-label', what);
		const lifelines = el('g', { class: 'seq-lifelines' }, svg);

		// participants: a box with the role and who plays it
		const boxW = Math.min(160, n > 1 ? (W - 2 * INSET) / (n - 1) - 12 : 160);
		parts.forEach((p, i) => {
			const g = el('g', { class: 'seq-participant' }, svg);
			el('rect', { x: xs[i] - boxW / 2, y: 6, width: boxW, height: 38, rx: 5,
				fill: 'rgba(127,127,127,0.10)', stroke: 'currentColor', 'stroke-width': 1 }, g);
			const who = p === 'Host' ? e.Host : (p === 'HGS' || p === 'KPS') ? e.Hgs : '';
			const name = wrap(p, (boxW - 10) / 7.6, 1);
			lines(g, xs[i], who ? 22 : 30, name.lines,
				{ 'text-anchor': 'middle', 'font-weight': 'bold', 'font-size': 13, fill: 'currentColor' },
				boxW - 10);
			if (who) {
				const sub = wrap(who, (boxW - 10) / 6.2, 1);
				lines(g, xs[i], 37, sub.lines, { 'text-anchor': 'middle', 'font-size': 11,
					fill: 'currentColor', opacity: 0.75 }, boxW - 10);
			}
			tip(g, who ? `${p}: ${str(who)}` : p);
		});

		let y = 58;
		steps.forEach((s, i) => {
			const cls = stepClass(s, i === answerAt && ended !== 'info' ? ended : null);
			const color = COLOR[cls];
			const g = el('g', { class: `seq-step seq-${cls}` }, svg);
			const from = str(s.From) || parts[0], to = str(s.To) || from;
			const x1 = xOf(from), x2 = xOf(to);
			let full = `${from} \u2192 ${to}: ${str(s.Label)}`;

			if (s.Kind === 'Message' && x1 !== x2) {
				const span = Math.abs(x2 - x1);
				const label = (cls === 'fail' ? MARK.fail + ' ' : cls === 'pass' ? MARK.pass + ' ' : '') +
					str(s.Label);
				const w = wrap(label, (span - 20) / CHAR_W, 3);
				lines(g, (x1 + x2) / 2, y + 12, w.lines, { 'text-anchor': 'middle', fill: color,
					'font-weight': cls === 'fail' ? 'bold' : 'normal' }, span - 20);
				const ay = y + w.lines.length * LINE_H + 6;
				const dir = x2 > x1 ? 1 : -1;
				el('line', { x1: x1, y1: ay, x2: x2 - dir * 8, y2: ay, stroke: color,
					'stroke-width': cls === 'msg' ? 1.3 : 2 }, g);
				head(g, x2, ay, dir, color);
				y = ay + 14;
			} else {
				// a check (or a note, or a message to itself): a box on the lifeline, text beside it
				// the text goes toward the middle, up to the next lifeline (or the edge)
				const left = x1 > W / 2;
				const tx = left ? x1 - 14 : x1 + 14;
				const others = xs.filter((x) => left ? x < x1 : x > x1);
				const bound = others.length ? (left ? Math.max(...others) + 8 : Math.min(...others) - 8)
					: (left ? 6 : W - 6);
				const room = left ? tx - bound : bound - tx;
				const anchor = left ? 'end' : 'start';
				const rows = [];
				if (s.Kind === 'Check') {
					const name = str(s.Check) || str(s.Label) || 'check';
					const verdict = str(s.Verdict) || 'Info';
					const top = wrap(`${MARK[cls]} ${name} \u00b7 ${verdict}`, room / 7.6, 1);
					rows.push([top.lines, { 'font-weight': 'bold', fill: color }]);
					if (s.Check && s.Label)
						rows.push([wrap(s.Label, room / CHAR_W, 2).lines, { fill: 'currentColor' }]);
					full = `${name}: ${verdict}${s.Check && s.Label ? ' \u2014 ' + str(s.Label) : ''}`;
				} else {
					rows.push([wrap(str(s.Label) || str(s.Kind), room / CHAR_W, 2).lines,
						{ fill: color === 'currentColor' ? 'currentColor' : color }]);
				}
				if (s.Detail) {
					rows.push([wrap(s.Detail, room / 6.4, 2).lines,
						{ fill: 'currentColor', opacity: 0.8, 'font-size': 11 }]);
					full += `\n${str(s.Detail)}`;
				}
				let count = 0;
				rows.forEach((r) => {
					lines(g, tx, y + 13 + count * LINE_H, r[0],
						Object.assign({ 'text-anchor': anchor }, r[1]), room);
					count += r[0].length;
				});
				const h = count * LINE_H + 6;
				el('rect', { x: x1 - 6, y: y + 1, width: 12, height: h, rx: 2,
					fill: cls === 'fail' ? COLOR.fail : cls === 'msg' ? 'rgba(127,127,127,0.25)' : color,
					'fill-opacity': cls === 'fail' ? 0.9 : 0.35,
					stroke: color, 'stroke-width': cls === 'fail' ? 2 : 1 }, g);
				if (cls === 'fail') {
					// the failing check's row, framed in red behind its text
					g.setAttribute('data-check', str(s.Check) || str(s.Label));
					g.insertBefore(el('rect', { x: left ? bound - 4 : tx - 4, y: y, width: room + 8,
						height: h + 2, rx: 3, fill: COLOR.fail, 'fill-opacity': 0.07,
						stroke: COLOR.fail, 'stroke-width': 1, 'stroke-dasharray': '3 2',
						class: 'seq-fail-box' }), g.firstChild);
				}
				y += h + 10;
			}
			tip(g, full);
		});

		// steps HGS left out of a full trace (StepsDropped) and steps past the limit here
		const more = all.length - steps.length + (trace && Number(trace.StepsDropped) > 0 ?
			Math.floor(Number(trace.StepsDropped)) : 0);
		if (more > 0) {
			const t = el('text', { x: W / 2, y: y + 10, 'text-anchor': 'middle', fill: 'currentColor',
				opacity: 0.7, class: 'seq-note' }, svg);
			t.textContent = `\u2026 ${more} more step${more === 1 ? '' : 's'} not drawn`;
			y += 20;
		}
		if (!trace) {
			const t = el('text', { x: W / 2, y: y + 10, 'text-anchor': 'middle', fill: 'currentColor',
				opacity: 0.6, 'font-style': 'italic', 'font-size': 11, class: 'seq-note' }, svg);
			t.textContent = 'no trace recorded for this exchange: the request and the answer only';
			y += 20;
		}
		// lifelines under everything, from the boxes to the end
		xs.forEach((x) => el('line', { x1: x, y1: 44, x2: x, y2: y + 4, stroke: 'currentColor',
			'stroke-opacity': 0.45, 'stroke-dasharray': '4 4' }, lifelines));
		const height = Math.ceil(y + 10);
		svg.setAttribute('height', height);
		svg.setAttribute('viewBox', `0 0 ${W} ${height}`);
		tip(svg, what);
		if (typeof global.requestAnimationFrame === 'function')
			global.requestAnimationFrame(() => { if (svg.isConnected) fit(svg); });
		return svg;
	}

	global.HgslabSeq = { render: render, summary: summary, fit: fit, hostOpened: hostOpened };
})(typeof window !== 'undefined' ? window : this);
