// Audit: the filters of `capsulectl audit` (subject, action or prefix, actor, result, since,
// until), newest first with older pages, a live tail, and CSV/JSON export of everything that matches.

import { call, events } from '../api.js';
import { h, replace, field, select, table } from '../dom.js';
import { badge, short, json, problem, parseTime } from '../format.js';

const names = ['subject', 'action', 'actor', 'result', 'since', 'until'];

export async function render(main, { query, ctx, alive }) {
  const inputs = {
    subject: h('input', { type: 'text', name: 'subject', value: query.get('subject') || '', placeholder: 'service:billing-bridge', spellcheck: 'false', autocomplete: 'off' }),
    action: h('input', { type: 'text', name: 'action', value: query.get('action') || '', placeholder: 'command.* or operator.denied', title: "An exact action, or a prefix ending in '.' or '*'", spellcheck: 'false', autocomplete: 'off' }),
    actor: h('input', { type: 'text', name: 'actor', value: query.get('actor') || '', placeholder: 'operator:local-owner', spellcheck: 'false', autocomplete: 'off' }),
    result: select([['', 'any'], 'SUCCESS', 'FAILURE'], query.get('result') || '', { name: 'result' }),
    since: h('input', { type: 'text', name: 'since', value: query.get('since') || '', placeholder: '10m, 2h, 7d or ISO 8601', spellcheck: 'false', autocomplete: 'off' }),
    until: h('input', { type: 'text', name: 'until', value: query.get('until') || '', placeholder: 'ISO 8601 or an age', spellcheck: 'false', autocomplete: 'off' }),
  };
  const tail = h('input', { type: 'checkbox', id: 'audit-live', checked: query.get('live') === '1' });
  const live = h('span', { class: 'live' }, '');
  const results = h('div', { id: 'audit-results' });
  const more = h('div', { class: 'pager' });
  const message = h('div', { id: 'audit-problem', 'aria-live': 'polite' });
  const exports = h('p', { class: 'exports' });

  /** The filter as the audit writer takes it; null when a time does not parse. */
  function filter() {
    const f = {};
    for (const name of ['subject', 'action', 'actor', 'result']) if (inputs[name].value.trim()) f[name] = inputs[name].value.trim();
    for (const name of ['since', 'until']) {
      const value = parseTime(inputs[name].value);
      if (value === undefined) return { error: `${name}: cannot read "${inputs[name].value}" as a time or an age (30s, 10m, 2h, 7d)` };
      if (value !== null) f[name] = Math.round(value);
    }
    return { filter: f };
  }

  const form = h('form', {
    class: 'filters', role: 'search',
    onsubmit(event) {
      event.preventDefault();
      const next = new URLSearchParams();
      for (const name of names) if (inputs[name].value.trim()) next.set(name, inputs[name].value.trim());
      if (tail.checked) next.set('live', '1');
      ctx.go('#/audit' + (next.toString() ? '?' + next : ''));
    },
  },
  field('Subject', inputs.subject), field('Action', inputs.action), field('Actor', inputs.actor),
  field('Result', inputs.result), field('Since', inputs.since), field('Until', inputs.until),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'), h('a', { href: '#/audit', class: 'button ghost' }, 'Clear')));

  replace(main, h('div', { class: 'page-head' }, h('h1', null, 'Audit trail'), live),
    form,
    h('div', { class: 'toolbar' }, h('span', { class: 'field inline' }, tail, h('label', { for: 'audit-live' }, 'Live tail: add records as they are stored')), exports),
    message, results, more);

  const parsed = filter();
  if (parsed.error) {
    replace(message, problem({ code: 'bad_filter', message: parsed.error }));
    return;
  }
  const base = parsed.filter;
  const exportQuery = new URLSearchParams(Object.entries(base).map(([k, v]) => [k, String(v)]));
  replace(exports, 'Export everything that matches: ',
    h('a', { href: `/api/audit/export?format=csv&${exportQuery}`, download: '', id: 'export-csv' }, 'CSV'), ' · ',
    h('a', { href: `/api/audit/export?format=json&${exportQuery}`, download: '', id: 'export-json' }, 'JSON'));

  let rows = [];
  function draw() {
    replace(results, table([
      { label: 'Time', cell: (r) => short(r.event.at) },
      { label: 'Action', cell: (r) => h('code', null, r.event.action) },
      { label: 'Subject', cell: (r) => r.event.subject },
      { label: 'Actor', class: 'wide', cell: (r) => r.event.actor },
      { label: 'Result', cell: (r) => badge(r.event.result) },
      { label: 'Change', class: 'wide', cell: (r) => (r.event.from || r.event.to ? h('span', { class: 'change' }, badge(r.event.from), ' → ', badge(r.event.to)) : '') },
      { label: 'Reason', cell: (r) => h('div', null, r.event.reason || '',
        r.event.details !== undefined ? h('details', null, h('summary', null, 'details'), json(r.event.details)) : null) },
    ], rows, { empty: 'No audit record matches.', rowAttrs: (r) => ({ dataset: { id: String(r.id), action: r.event.action } }) }));
  }

  async function page(beforeId) {
    try {
      const answer = await call('audit', 'audit.query', { ...base, limit: 100, beforeId });
      if (!alive()) return;
      rows = rows.concat(answer.records);
      draw();
      const last = answer.records.length ? answer.records[answer.records.length - 1].id : null;
      replace(more, !answer.complete && last !== null
        ? h('button', { type: 'button', class: 'ghost', id: 'audit-older', onclick() { page(last); } }, 'Older records →')
        : h('span', { class: 'muted small' }, `${rows.length} records`));
    } catch (error) {
      if (alive()) replace(message, problem(error));
    }
  }
  await page(undefined);

  let stop = null;
  function follow() {
    if (stop) { stop(); stop = null; }
    live.textContent = '';
    if (!tail.checked) return;
    const { subject, action, actor, result } = base;
    stop = events({ subject, action, actor, result, after: rows.length ? rows[0].id : undefined }, {
      state(state) { live.textContent = state === 'live' ? '● live' : 'reconnecting…'; live.className = 'live is-' + state; },
      audit(record) {
        if (rows.some((r) => r.id === record.id)) return;
        if (base.until !== undefined) return;
        rows.unshift(record);
        draw();
      },
      problem(error) { replace(message, problem(error, 'Live tail paused')); },
    });
  }
  tail.addEventListener('change', follow);
  follow();
  return () => { if (stop) stop(); };
}
