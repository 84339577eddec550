// Services: search (code prefix) and filters (status, agent), paged on the server, so a fleet of
// thousands is one small query per page.

import { call, lastTiming } from '../api.js';
import { h, replace, table, field, select } from '../dom.js';
import { badge, when, problem } from '../format.js';

const statuses = ['', 'HEALTHY', 'UNHEALTHY', 'STALE', 'OFFLINE', 'UNKNOWN'];

export async function render(main, { query, ctx, alive }) {
  const prefix = h('input', { type: 'search', name: 'prefix', value: query.get('prefix') || '', placeholder: 'billing-', autocomplete: 'off', spellcheck: 'false' });
  const status = select(statuses.map((s) => [s, s || 'any']), query.get('status') || '', { name: 'status' });
  const agent = h('input', { type: 'text', name: 'agent', value: query.get('agent') || '', placeholder: 'agent code or id', autocomplete: 'off', spellcheck: 'false' });
  const limit = select(['25', '50', '100', '200'], query.get('limit') || '50', { name: 'limit' });
  const results = h('div', { id: 'services-results', 'aria-live': 'polite' });
  const footer = h('div', { class: 'pager' });

  const form = h('form', {
    class: 'filters', role: 'search',
    onsubmit(event) {
      event.preventDefault();
      const next = new URLSearchParams();
      if (prefix.value.trim()) next.set('prefix', prefix.value.trim());
      if (status.value) next.set('status', status.value);
      if (agent.value.trim()) next.set('agent', agent.value.trim());
      if (limit.value !== '50') next.set('limit', limit.value);
      ctx.go('#/services' + (next.toString() ? '?' + next : ''));
    },
  },
  field('Service code starts with', prefix),
  field('Status', status),
  field('Agent', agent),
  field('Per page', limit),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search'),
    h('a', { href: '#/services', class: 'button ghost' }, 'Clear')));

  replace(main, h('div', { class: 'page-head' }, h('h1', null, 'Services')), form, results, footer);

  // Cursors of the pages before this one, for "Previous".
  const cursors = [];
  let cursor;

  async function load() {
    const params = { limit: Number(limit.value) };
    if (prefix.value.trim()) params.prefix = prefix.value.trim();
    if (status.value) params.status = status.value;
    if (agent.value.trim()) params.agent = agent.value.trim();
    if (cursor) params.cursor = cursor;
    let page;
    try {
      page = await call('aggregator', 'status.list', params);
    } catch (error) {
      if (alive()) replace(results, problem(error));
      return;
    }
    if (!alive()) return;
    const timing = lastTiming;
    replace(results, table([
      { label: 'Service', cell: (s) => h('div', null, h('a', { href: `#/services/${encodeURIComponent(s.code)}`, class: 'strong' }, s.code),
        s.name && s.name !== s.code ? h('div', { class: 'muted small' }, s.name) : null) },
      { label: 'Status', cell: (s) => badge(s.status) },
      { label: 'Health', cell: (s) => h('div', null, badge(s.healthStatus), s.healthMessage ? h('div', { class: 'muted small' }, s.healthMessage) : null) },
      { label: 'Agent', cell: (s) => h('div', null, s.agentCode || s.agentId, ' ', s.agentStatus ? badge(s.agentStatus, 'small') : null) },
      { label: 'Last heartbeat', cell: (s) => when(s.lastHeartbeatAt) },
      { label: 'Reason', class: 'wide', cell: (s) => s.reason },
    ], page.items, { empty: 'No service matches.', rowAttrs: (s) => ({ dataset: { service: s.code, status: s.status } }) }));
    replace(footer,
      h('button', { type: 'button', class: 'ghost', disabled: cursors.length === 0, onclick() { cursor = cursors.pop(); load(); } }, '← Previous'),
      h('span', { class: 'muted small' }, `${page.items.length} shown`, timing !== null ? ` · served in ${timing} ms` : ''),
      h('button', { type: 'button', class: 'ghost', disabled: !page.next, onclick() { cursors.push(cursor); cursor = page.next; load(); } }, 'Next →'));
  }
  await load();
}
