// smoke.js - Chromium starts headless, renders a page with script and SVG,
// and reports what it drew: the browser tests' own plumbing works.
'use strict';
const { check, run } = require('./lib');

run(async (browser) => {
	const page = await browser.newPage();
	await page.setContent('<svg id=s width=10 height=10><rect width=5 height=5 /></svg>' +
		'<script>document.title = "ran " + document.querySelectorAll("rect").length;</script>');
	check((await page.title()) === 'ran 1', 'headless Chromium runs a page\'s script and draws its SVG');
});
