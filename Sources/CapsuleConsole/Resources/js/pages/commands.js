// Commands: filters (status, service, agent), paged on the server; refreshed live as command events
// are stored.

import { call, events } from '../api.js';
import { h, replace, field, select } from '../dom.js';
import { problem } from '../format.js';
import { commandsTable } from './dashboard.js';

const statuses = ['', 'PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED'];

export async function render(main, { query, ctx, alive }) {
  const status = select(statuses.map((s) => [s, s || 'any']), query.get('status') || '', { name: 'status' });
  const service = h('input', { type: 'text', name: 'service', value: query.get('service') || '', autocomplete: 'off', spellcheck: 'false' });
  const agent = h('input', { type: 'text', name: 'agent', value: query.get('agent') || '', placeholder: 'agent id', autocomplete: 'off', spellcheck: 'false' });
  const results = h('div', { id: 'commands-results', 'aria-live': 'polite' });
  const pager = h('div', { class: 'pager' });
  const live = h('span', { class: 'live' }, '');
  const form = h('form', {
    class: 'filters', role: 'search',
    onsubmit(event) {
      event.preventDefault();
      const next = new URLSearchParams();
      if (status.value) next.set('status', status.value);
      if (service.value.trim()) next.set('service', service.value.trim());
      if (agent.value.trim()) next.set('agent', agent.value.trim());
      ctx.go('#/commands' + (next.toString() ? '?' + next : ''));
    },
  }, field('Status', status), field('Service', service), field('Agent', agent),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'), h('a', { href: '#/commands', class: 'button ghost' }, 'Clear')));
  replace(main, h('div', { class: 'page-head' }, h('h1', null, 'Commands'), live), form, results, pager);

  const cursors = [];
  let cursor;
  async function load() {
    const params = { limit: 50 };
    if (status.value) params.status = status.value;
    if (service.value.trim()) params.service = service.value.trim();
    if (agent.value.trim()) params.agent = agent.value.trim();
    if (cursor) params.cursor = cursor;
    try {
      const page = await call('broker', 'command.list', params);
      if (!alive()) return;
      replace(results, commandsTable(page.items, 'No command matches.'));
      replace(pager, ...(cursors.length === 0 && !page.next ? [] : [
        h('button', { type: 'button', class: 'ghost', disabled: cursors.length === 0, onclick() { cursor = cursors.pop(); load(); } }, '← Newer'),
        h('button', { type: 'button', class: 'ghost', disabled: !page.next, onclick() { cursors.push(cursor); cursor = page.next; load(); } }, 'Older →')]));
    } catch (error) {
      if (alive()) replace(results, problem(error));
    }
  }
  await load();
  let timer = null;
  const stop = events({ action: 'command.' }, {
    state(state) { live.textContent = state === 'live' ? '● live' : 'reconnecting…'; live.className = 'live is-' + state; },
    audit() {
      // Only the first page follows the stream; older pages stay as they were read.
      if (cursor) return;
      clearTimeout(timer);
      timer = setTimeout(load, 300);
    },
  });
  return () => { stop(); clearTimeout(timer); };
}
