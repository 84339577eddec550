// Agents: status, heartbeat and services from the aggregator, and (operator role) disable, enable,
// revoke and forget, each confirmed first.

import { call } from '../api.js';
import { h, replace, table, field, select } from '../dom.js';
import { badge, when, problem, note } from '../format.js';
import { confirmDialog } from './confirm.js';

const statuses = ['', 'ONLINE', 'OFFLINE', 'PENDING', 'DISABLED', 'REVOKED'];

const changes = {
  disable: { op: 'agent.disable', label: 'Disable', text: (a) => `${a.code} gets no commands while disabled (pending ones are held) and its services read OFFLINE. You can enable it again.` },
  enable: { op: 'agent.enable', label: 'Enable', danger: false, text: (a) => `${a.code} is accepted again and its held commands are delivered.` },
  revoke: { op: 'agent.revoke', label: 'Revoke', type: true, text: (a) => `${a.code}'s key is refused from its next message, for good. Only a fresh enrolment with an owner's token brings it back.` },
  forget: { op: 'agent.forget', label: 'Forget', type: true, text: (a) => `The record of ${a.code}, its services and their status are removed. The audit trail keeps its history.` },
};

export async function render(main, { query, ctx, alive }) {
  const status = select(statuses.map((s) => [s, s || 'any']), query.get('status') || '', { name: 'status' });
  const results = h('div', { id: 'agents-results' });
  const pager = h('div', { class: 'pager' });
  const message = h('div', { id: 'agents-problem', 'aria-live': 'polite' });
  const form = h('form', {
    class: 'filters', role: 'search',
    onsubmit(event) {
      event.preventDefault();
      ctx.go('#/agents' + (status.value ? `?status=${status.value}` : ''));
    },
  }, field('Status', status), h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter')));
  replace(main, h('div', { class: 'page-head' }, h('h1', null, 'Agents')), form, message, results, pager);
  const canChange = ctx.can('operator');

  async function change(agent, kind) {
    const what = changes[kind];
    const ok = await confirmDialog({
      title: `${what.label} agent ${agent.code}?`, text: what.text(agent), confirm: `${what.label} ${agent.code}`,
      typeToConfirm: what.type ? agent.code : null, danger: what.danger !== false,
    });
    if (!ok) return;
    try {
      await call('broker', what.op, { id: agent.agentId });
      replace(message, note(`${what.label}: done for ${agent.code}.`, 'info'));
      await load();
    } catch (error) {
      replace(message, problem(error, `${what.label} refused`));
    }
  }

  function buttons(agent) {
    if (!canChange) return null;
    const list = [];
    if (agent.status !== 'DISABLED' && agent.status !== 'REVOKED') list.push('disable');
    if (agent.status === 'DISABLED') list.push('enable');
    if (agent.status !== 'REVOKED') list.push('revoke');
    if (agent.status === 'REVOKED') list.push('forget');
    return h('div', { class: 'row-actions' }, list.map((kind) => h('button', {
      type: 'button', class: kind === 'enable' ? 'small' : 'small danger-button', dataset: { change: kind, agent: agent.code },
      onclick() { change(agent, kind); },
    }, changes[kind].label)));
  }

  const cursors = [];
  let cursor;
  async function load() {
    const params = { limit: 100 };
    if (status.value) params.status = status.value;
    if (cursor) params.cursor = cursor;
    try {
      const page = await call('aggregator', 'agents.list', params);
      if (!alive()) return;
      const focus = query.get('focus');
      replace(results, table([
        { label: 'Agent', cell: (a) => h('div', null, h('strong', null, a.code), h('div', { class: 'mono muted small' }, a.agentId)) },
        { label: 'Status', cell: (a) => badge(a.status) },
        { label: 'Last heartbeat', cell: (a) => when(a.lastHeartbeatAt) },
        { label: 'Services', cell: (a) => h('span', null, a.services.map((code, i) => [i ? ', ' : '', h('a', { href: `#/services/${encodeURIComponent(code)}` }, code)])) },
        { label: 'Reason', class: 'wide', cell: (a) => a.reason },
        canChange ? { label: 'Change', cell: buttons } : null,
      ].filter(Boolean), page.items, { empty: 'No agent matches.', rowAttrs: (a) => ({ dataset: { agent: a.code, status: a.status }, class: focus === a.agentId ? 'focus' : null }) }));
      replace(pager, ...(cursors.length === 0 && !page.next ? [] : [
        h('button', { type: 'button', class: 'ghost', disabled: cursors.length === 0, onclick() { cursor = cursors.pop(); load(); } }, '← Previous'),
        h('button', { type: 'button', class: 'ghost', disabled: !page.next, onclick() { cursors.push(cursor); cursor = page.next; load(); } }, 'Next →')]));
    } catch (error) {
      if (alive()) replace(results, problem(error));
    }
  }
  await load();
}
