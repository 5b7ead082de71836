// dashboard.js - the live dashboard's page (web/dashboard.html): draws the
// fabric from GET /api/fabric, follows GET /api/events (Server-Sent Events:
// "lab" events and new "fabric" pictures), shows a host's or a VM's page and
// an exchange's sequence diagram (web/seq.js HgslabSeq.render when it is
// there, else the steps as a list), and sends the teacher actions with the
// token.  Everything from the lab is untrusted text: it goes into the page
// through textContent and attributes only, never as HTML.
'use strict';

(function () {
	const $ = (id) => document.getElementById(id);
	const state = { fabric: null, events: new Map(), view: null };

	// An element TAG with attributes ATTRS (class, data-*, href...) and children (nodes or text).
	function el(tag, attrs, ...children) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k === 'onclick')
				e.addEventListener('click', v);
			else
				e.setAttribute(k, String(v));
		}
		for (const c of children.flat()) {
			if (c === null || c === undefined || c === false)
				continue;
			e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
		}
		return e;
	}

	function clear(node) {
		while (node.firstChild)
			node.removeChild(node.firstChild);
		return node;
	}

	// The colour class of an attestation status: ok, bad or warn.
	function statusClass(status) {
		if (status === 'Passed')
			return 'ok';
		if (!status || status === 'Unknown' || status === 'NotConfigured' || status === 'Expired')
			return 'warn';
		return 'bad';
	}

	function kv(label, value) {
		return el('div', { class: 'kv' }, label + ': ', el('b', {}, value === undefined || value === null ? '-' : value));
	}

	function toast(text, bad) {
		const t = $('toast');
		t.textContent = text;
		t.className = bad ? 'bad' : '';
		t.hidden = false;
		clearTimeout(toast.timer);
		toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 9000 : 5000);
	}

	// ---- teacher actions ----

	async function action(body, what) {
		toast(what + ' ...');
		let res, data;
		try {
			res = await fetch('/api/action', {
				method: 'POST',
				headers: { 'Content-Type': 'application/json', 'X-Hgslab-Token': $('token').value.trim() },
				body: JSON.stringify(body),
			});
			data = await res.json().catch(() => ({}));
		} catch (e) {
			toast(what + ': the dashboard did not answer (' + e + ')', true);
			return;
		}
		if (!res.ok) {
			toast(what + ' refused (' + res.status + '): ' + (data.error || ''), true);
			return;
		}
		const out = (data.Output || []).join('\n');
		toast(what + (data.Done ? ': done' : ': did not succeed') + (out ? '\n' + out.slice(-600) : ''), !data.Done);
		if (state.view)
			show(state.view);
	}

	function rebootButtons(host) {
		const input = el('input', { type: 'text', value: host.Profile || 'baseline', size: 24, 'aria-label': 'profile', list: 'profiles' });
		return el('div', { class: 'actions' },
			input,
			el('button', { type: 'button', onclick: () => action({ Action: 'reboot-host', Host: host.Name, Profile: input.value }, 'reboot ' + host.Name) }, 'reboot into profile'));
	}

	// ---- the fabric ----

	function renderHgs(list) {
		const box = clear($('hgs'));
		for (const h of list || []) {
			const pol = (h.Policies || []).map((p) => el('span', {
				class: 'chip ' + (p.PolicyState === 'Enabled' ? 'ok' : ''),
				title: p.Description || '',
			}, p.Name + (p.PolicyState === 'Enabled' ? ' on' : ' off')));
			const reg = h.Registrations || {};
			box.appendChild(el('div', { class: 'card ' + (h.Running ? 'ok' : 'bad'), 'data-hgs': h.Name },
				el('h3', {}, h.Name),
				el('span', { class: 'status ' + (h.Running ? 'ok' : 'bad') }, h.Running ? 'Running' : 'Stopped'),
				kv('trust mode', h.TrustMode), kv('URL', h.Url),
				kv('registrations', `${reg.TpmHosts || 0} TPM hosts, ${reg.TpmPolicies || 0} TPM baselines, ${reg.CiPolicies || 0} CI policies, ${reg.HostGroups || 0} host groups, ${reg.HostKeys || 0} host keys`),
				(h.TrustedDomains || []).length ? kv('trusts', h.TrustedDomains.join(', ')) : null,
				el('div', { class: 'kv' }, 'policies:'), el('div', { class: 'chips' }, pol),
				el('div', { class: 'actions' },
					el('button', { type: 'button', onclick: () => action({ Action: 'kill-hgs', Hgs: h.Name }, 'kill HGS ' + h.Name) }, 'kill HGS'),
					el('button', { type: 'button', onclick: () => action({ Action: 'restart-hgs', Hgs: h.Name }, 'restart HGS ' + h.Name) }, 'restart HGS'))));
		}
	}

	function renderDomain(f) {
		const box = clear($('domain'));
		if (!f) {
			box.appendChild(el('div', { class: 'kv' }, 'no fabric domain in this scenario (TPM or host key attestation only)'));
			return;
		}
		box.appendChild(el('div', { class: 'card ' + (f.Running ? 'ok' : 'bad') },
			el('h3', {}, f.Domain || 'fabric domain'),
			el('span', { class: 'status ' + (f.Running ? 'ok' : 'bad') }, f.Running ? 'DC running' : 'DC stopped'),
			kv('DC', f.Url),
			(f.Groups || []).map((g) => kv('group ' + g.Name, (g.Members || []).join(', ') || 'no members')),
			kv('trusted by', (state.fabric.Hgs || []).filter((h) => (h.TrustedDomains || []).includes(f.Domain)).map((h) => h.Name).join(', ') || 'no HGS yet')));
	}

	function vmLink(vm) {
		return el('a', { class: 'vm ' + (vm.Running ? 'running' : ''), href: '#vm/' + encodeURIComponent(vm.Name), 'data-vm': vm.Name },
			vm.Name + ' - ' + (vm.State || (vm.Running ? 'Running' : 'Off')));
	}

	function renderHosts(list) {
		const box = clear($('hosts'));
		for (const h of list || []) {
			const cls = statusClass(h.Status);
			box.appendChild(el('div', { class: 'card host ' + cls, 'data-host': h.Name },
				el('h3', {}, el('a', { href: '#host/' + encodeURIComponent(h.Name) }, h.Name)),
				el('span', { class: 'status host-status ' + cls }, h.StatusWords || h.Status || 'Unknown'),
				kv('attests to', h.Hgs), kv('profile', h.Profile),
				kv('agent', h.Running ? 'running' : 'stopped'),
				el('div', {}, (h.Vms || []).map(vmLink)),
				rebootButtons(h)));
		}
	}

	function renderTenant(f) {
		const box = clear($('tenant'));
		const loose = (f.Vms || []).filter((v) => !v.Host);
		box.appendChild(el('div', { class: 'card' },
			el('h3', {}, 'Guardians'),
			(f.Guardians || []).map((g) => kv(g.Name, g.Kind + ', signing ' + (g.SigningThumbprint || '').slice(0, 16) + '...')),
			(f.Guardians || []).length ? null : el('div', { class: 'kv' }, 'none yet')));
		// one line per VM: where it is imported, where it runs
		const byName = new Map();
		for (const v of f.Vms || []) {
			const e = byName.get(v.Name) || { Name: v.Name, Running: false, State: 'Off', on: [], runs: null };
			if (v.Host)
				e.on.push(v.Host);
			if (v.Running) {
				e.Running = true;
				e.State = v.State;
				e.runs = v.Host;
			}
			byName.set(v.Name, e);
		}
		box.appendChild(el('div', { class: 'card' },
			el('h3', {}, 'Shielded VMs'),
			[...byName.values()].map((v) => el('div', {}, vmLink(v),
				el('div', { class: 'kv' }, v.runs ? 'runs on ' + v.runs : (v.on.length ? 'imported on ' + v.on.join(', ') : 'not on a host yet')))),
			byName.size ? null : el('div', { class: 'kv' }, 'none yet'),
			loose.length ? el('div', { class: 'kv' }, loose.length + ' not imported on any host') : null));
	}

	function renderFabric(f) {
		state.fabric = f;
		$('scenario').textContent = f.Scenario ? f.Scenario : 'guarded fabric';
		$('waiting').hidden = !f.Waiting;
		$('waiting').textContent = f.Waiting || '';
		renderHgs(f.Hgs);
		renderDomain(f.Fabric);
		renderHosts(f.Hosts);
		renderTenant(f);
	}

	// ---- events and diagrams ----

	// The sequence diagram of log entry ENTRY: HgslabSeq's SVG, else the steps as a list.
	function diagram(entry, ok) {
		const box = el('div', { class: 'diagram' });
		if (window.HgslabSeq && typeof window.HgslabSeq.render === 'function') {
			try {
				box.appendChild(window.HgslabSeq.render(entry));
				return box;
			} catch (e) {
				box.appendChild(el('div', { class: 'kv' }, 'the diagram could not be drawn: ' + e));
			}
		}
		const steps = entry && entry.Trace && Array.isArray(entry.Trace.Steps) ? entry.Trace.Steps : null;
		const ol = el('ol', { class: 'steps' });
		if (steps) {
			for (const s of steps) {
				const v = s.Kind === 'Check' ? (s.Verdict || 'Info').toLowerCase() : 'msg';
				ol.appendChild(el('li', { class: 'seq-step seq-' + v, 'data-check': s.Kind === 'Check' && s.Verdict === 'Fail' ? s.Check : null },
					`${s.From} -> ${s.To}: `, s.Check ? s.Check + ' ' : '', s.Label || '', s.Verdict ? ` [${s.Verdict}]` : '',
					s.Detail ? el('div', { class: 'kv' }, s.Detail) : null));
			}
		} else {
			// no trace kept for this exchange: the request and the answer only
			const answer = entry ? (entry.Status || entry.Result || '') + (entry.Reason ? ': ' + entry.Reason : '') : '';
			ol.appendChild(el('li', { class: 'seq-step seq-msg' }, 'Host -> ' + (entry && entry.Result !== undefined ? 'KPS' : 'HGS') + ': request'));
			ol.appendChild(el('li', { class: 'seq-step seq-msg ' + (ok ? '' : 'seq-fail') }, (entry && entry.Result !== undefined ? 'KPS' : 'HGS') + ' -> Host: ' + answer));
		}
		box.appendChild(ol);
		return box;
	}

	function eventItem(ev) {
		const t = (ev.Time || '').replace('T', ' ').replace('Z', '');
		return el('li', { class: 'event ' + (ev.Ok ? 'ok' : 'bad'), 'data-id': ev.Id, 'data-kind': ev.Kind, 'data-host': ev.Host, 'data-ok': ev.Ok ? 1 : 0,
			onclick: () => { location.hash = 'event/' + ev.Id; } },
			el('span', { class: 'when' }, t.slice(11) || t), el('span', { class: 'kind' }, ev.Kind),
			el('span', { class: 'title' }, ev.Title),
			ev.Reason ? el('div', { class: 'reason' }, ev.Reason) : null,
			ev.Remedy ? el('div', { class: 'remedy' }, ev.Remedy) : null);
	}

	function addEvent(ev) {
		if (state.events.has(ev.Id))
			return;
		state.events.set(ev.Id, ev);
		const list = $('events');
		list.insertBefore(eventItem(ev), list.firstChild);
		while (list.children.length > 400)
			list.removeChild(list.lastChild);
	}

	function showEvent(id) {
		const ev = state.events.get(Number(id));
		const body = clear($('detail-body'));
		for (const li of document.querySelectorAll('.event.selected'))
			li.classList.remove('selected');
		if (!ev) {
			body.appendChild(el('p', {}, 'event ' + id + ' is not kept any more'));
			return;
		}
		const li = document.querySelector(`.event[data-id="${Number(id)}"]`);
		if (li)
			li.classList.add('selected');
		body.appendChild(el('h3', {}, ev.Title));
		body.appendChild(kv('when', ev.Time));
		if (ev.Reason)
			body.appendChild(kv('why', ev.Reason));
		body.appendChild(kv('fix', ev.Remedy || (ev.Ok ? 'nothing to fix' : 'no remedy known yet')));
		if (ev.Entry)
			body.appendChild(diagram(withHostPart(ev), ev.Ok));
	}

	// EV's log entry; for a key release the host followed with a VM start, with the
	// host's part after KPS's answer (HgslabSeq.hostOpened: it opened the vTPM).
	function withHostPart(ev) {
		if (ev.Kind !== 'KeyRelease' || !ev.Ok || !window.HgslabSeq || !window.HgslabSeq.hostOpened)
			return ev.Entry;
		for (const o of state.events.values())
			if (o.Kind === 'VmStart' && o.Host === ev.Host && o.Id > ev.Id)
				return Object.assign({}, ev.Entry, { After: [window.HgslabSeq.hostOpened(o.Vm)] });
		return ev.Entry;
	}

	// ---- host and VM pages ----

	const PCR_MEANING = {
		0: 'firmware code: the CRTM version and the firmware volume (changes with a firmware update)',
		1: 'platform configuration: SMBIOS tables and the boot variables (BootOrder, Boot0000)',
		2: 'option ROMs of plug-in cards (a NIC)',
		3: 'the option ROMs\' configuration (nothing measured here: the separator only)',
		4: 'the boot manager the firmware started (bootmgfw.efi)',
		5: 'the GPT partition table and the end of boot services',
		6: 'platform manufacturer events (nothing measured here: the separator only)',
		7: 'Secure Boot: whether it is on and its keys (PK, KEK, db, dbx), and which db entry verified the boot manager',
		12: 'Windows boot configuration: boot debugging, safe mode, hibernation resume ...',
		13: 'the boot modules loaded (hypervisor, secure kernel)',
		14: 'the boot authorities: VSM identity key, code integrity policy, dump encryption',
	};

	const EVENT_MEANING = {
		EV_NO_ACTION: 'not extended into a PCR: the log\'s header (its algorithms)',
		EV_S_CRTM_VERSION: 'the version of the firmware\'s root of trust for measurement',
		EV_EFI_PLATFORM_FIRMWARE_BLOB: 'the firmware volume that ran',
		EV_POST_CODE: 'power-on self-test code',
		EV_EFI_HANDOFF_TABLES: 'the SMBIOS tables handed to the OS',
		EV_EFI_VARIABLE_BOOT: 'a boot variable (BootOrder, Boot0000)',
		EV_EFI_BOOT_SERVICES_DRIVER: 'a driver from a plug-in card\'s option ROM',
		EV_EFI_ACTION: 'a step the firmware took (calling the boot option, exiting boot services)',
		EV_EFI_BOOT_SERVICES_APPLICATION: 'the boot manager the firmware started',
		EV_EFI_GPT_EVENT: 'the disk\'s GPT partition table',
		EV_EFI_VARIABLE_DRIVER_CONFIG: 'a Secure Boot variable: SecureBoot on or off, PK, KEK, db, dbx',
		EV_EFI_VARIABLE_AUTHORITY: 'the db certificate that verified the boot manager',
		EV_SEPARATOR: 'the end of the pre-OS measurements into this PCR',
		EV_EVENT_TAG: 'Windows boot configuration (WBCL): debugging, hypervisor, VSM, code integrity, IOMMU, dumps...',
	};

	function table(head, rows) {
		return el('table', {}, el('tr', {}, head.map((h) => el('th', {}, h))),
			rows.map((r) => el('tr', {}, r.map((c, i) => el('td', { class: i === head.indexOf('SHA-256') ? 'hex' : null }, c)))));
	}

	async function getJson(url) {
		const res = await fetch(url);
		const data = await res.json().catch(() => ({}));
		if (!res.ok)
			throw new Error(data.error || ('HTTP ' + res.status));
		return data;
	}

	async function showHost(name) {
		const body = clear($('detail-body'));
		body.appendChild(el('p', {}, 'loading ' + name + ' ...'));
		let h;
		try {
			h = await getJson('/api/host/' + encodeURIComponent(name));
		} catch (e) {
			clear(body).appendChild(el('p', {}, String(e.message)));
			return;
		}
		clear(body);
		const cls = statusClass(h.Status);
		body.appendChild(el('h3', {}, 'Host ' + h.Name));
		body.appendChild(el('span', { class: 'status ' + cls }, h.StatusWords));
		body.appendChild(kv('attests to', h.Hgs));
		body.appendChild(kv('boot profile', h.Profile));
		body.appendChild(kv('agent', h.Running ? 'running' : 'stopped'));
		body.appendChild(rebootButtons({ Name: h.Name, Profile: h.Profile }));
		const boot = h.Boot || {};
		body.appendChild(el('h4', {}, 'Measured boot: PCRs'));
		body.appendChild(table(['PCR', 'SHA-256', 'what it measures'],
			(boot.Pcrs || []).map((p) => [String(p.Pcr), p.Sha256, PCR_MEANING[p.Pcr] || ''])));
		body.appendChild(el('h4', {}, 'Measured boot: events of the TCG log'));
		if (boot.Error)
			body.appendChild(el('p', { class: 'note' }, boot.Error));
		body.appendChild(table(['#', 'PCR', 'event', 'what it is', 'SHA-256', 'data'],
			(boot.Events || []).map((e) => [String(e.Index), String(e.Pcr), e.Type, EVENT_MEANING[e.Type] || '',
				(e.Sha256 || '').slice(0, 16) + '...', e.Text || (e.DataSize + ' bytes')])));
		body.appendChild(el('h4', {}, 'Attestation policies of ' + h.Hgs));
		body.appendChild(table(['policy', 'state', 'what it checks'],
			(h.Policies || []).map((p) => [p.Name, p.PolicyState + (p.Locked ? ' (locked)' : ''), p.Description || ''])));
		body.appendChild(el('h4', {}, 'Last attestations'));
		for (const a of (h.Attestations || []).slice().reverse()) {
			body.appendChild(kv(a.Time, a.Status + ((a.SubStatus || []).length ? ' (' + a.SubStatus.join(', ') + ')' : '') + (a.Reason ? ': ' + a.Reason : '')));
			body.appendChild(diagram(a, a.Status === 'Passed'));
		}
	}

	async function showVm(name) {
		const body = clear($('detail-body'));
		let v;
		try {
			v = await getJson('/api/vm/' + encodeURIComponent(name));
		} catch (e) {
			body.appendChild(el('p', {}, String(e.message)));
			return;
		}
		body.appendChild(el('h3', {}, 'Shielded VM ' + v.Name));
		body.appendChild(kv('runs on', v.RunningOn || 'no host (off)'));
		body.appendChild(kv('owner', v.Owner));
		body.appendChild(kv('guardians', (v.Guardians || []).map((g) => g.Name).join(', ')));
		body.appendChild(kv('policy', v.Policy));
		body.appendChild(el('h4', {}, 'Where it may run, and why'));
		body.appendChild(table(['host', 'may run', 'why'],
			(v.Hosts || []).map((h) => [h.Host, h.MayRun ? 'yes' : 'no', h.Why])));
		body.appendChild(el('div', { class: 'actions' },
			el('button', { type: 'button', onclick: () => action({ Action: 'start-vm', Vm: v.Name }, 'start ' + v.Name) }, 'start VM'),
			el('button', { type: 'button', onclick: () => action({ Action: 'stop-vm', Vm: v.Name }, 'stop ' + v.Name) }, 'stop VM')));
	}

	// ---- routing: #host/NAME, #vm/NAME, #event/ID ----

	function show(view) {
		state.view = view;
		const m = /^#?(host|vm|event)\/(.+)$/.exec(view || '');
		$('detail').hidden = !m;
		if (!m)
			return;
		const arg = decodeURIComponent(m[2]);
		if (m[1] === 'host')
			showHost(arg);
		else if (m[1] === 'vm')
			showVm(arg);
		else
			showEvent(arg);
	}

	window.addEventListener('hashchange', () => show(location.hash));
	$('close').addEventListener('click', () => { location.hash = ''; });

	// ---- the live stream ----

	function connect() {
		const es = new EventSource('/api/events');
		es.onopen = () => { $('live').textContent = 'live'; $('live').className = 'live on'; };
		es.onerror = () => { $('live').textContent = 'reconnecting'; $('live').className = 'live off'; };
		es.addEventListener('lab', (m) => {
			try {
				addEvent(JSON.parse(m.data));
			} catch (e) { /* a damaged event is skipped */ }
		});
		es.addEventListener('fabric', (m) => {
			try {
				renderFabric(JSON.parse(m.data));
			} catch (e) { /* keep the last picture */ }
		});
	}

	const profiles = el('datalist', { id: 'profiles' },
		['baseline', 'baseline,debug=on', 'baseline,secure_boot=off', 'baseline,iommu=off', 'baseline,hvci=off', 'baseline,vsm=off'].map((p) => el('option', { value: p })));
	document.body.appendChild(profiles);
	getJson('/api/fabric').then(renderFabric).catch((e) => toast(String(e.message), true));
	connect();
	show(location.hash);
})();
