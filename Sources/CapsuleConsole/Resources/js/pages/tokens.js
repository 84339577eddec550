// Registration tokens: list (hash-only records), create (the raw token is shown once, here, and
// never again), revoke. Creating and revoking need the operator role.

import { call } from '../api.js';
import { h, replace, table, field, select } from '../dom.js';
import { badge, when, stamp, problem, note } from '../format.js';
import { confirmDialog } from './confirm.js';

const statuses = ['', 'ACTIVE', 'USED', 'EXPIRED', 'REVOKED'];
const expiries = [['600', '10 minutes'], ['3600', '1 hour'], ['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days']];

export async function render(main, { query, ctx, alive }) {
  const status = select(statuses.map((s) => [s, s || 'any']), query.get('status') || '', { name: 'status' });
  const results = h('div', { id: 'tokens-results' });
  const pager = h('div', { class: 'pager' });
  const message = h('div', { id: 'tokens-problem', 'aria-live': 'polite' });
  const created = h('div', { id: 'token-created', 'aria-live': 'polite' });
  const canChange = ctx.can('operator');

  const filterForm = h('form', {
    class: 'filters', role: 'search',
    onsubmit(event) { event.preventDefault(); ctx.go('#/tokens' + (status.value ? `?status=${status.value}` : '')); },
  }, field('Status', status), h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter')));

  let createForm = null;
  if (canChange) {
    const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'billing-host-3' });
    const agentCode = h('input', { type: 'text', name: 'agentCode', autocomplete: 'off', spellcheck: 'false', placeholder: 'optional: only this agent code' });
    const expires = select(expiries, '3600', { name: 'expires' });
    createForm = h('form', {
      class: 'panel create', id: 'token-form', novalidate: true,
      async onsubmit(event) {
        event.preventDefault();
        replace(created);
        const params = { name: name.value.trim(), expiresInSeconds: Number(expires.value) };
        if (agentCode.value.trim()) params.agentCode = agentCode.value.trim();
        try {
          const answer = await call('broker', 'token.create', params);
          const tokenText = h('code', { class: 'one-time', id: 'token-value' }, answer.token);
          const copy = h('button', { type: 'button', class: 'small', async onclick() {
            try { await navigator.clipboard.writeText(answer.token); copy.textContent = 'Copied'; } catch { copy.textContent = 'Select and copy it by hand'; }
          } }, 'Copy');
          replace(created, h('div', { class: 'alert warn' },
            h('p', null, h('strong', null, 'Registration token, shown once: '), 'the broker keeps only its hash. Copy it now and hand it to the new agent (', h('code', null, '--token'), ').'),
            h('p', null, tokenText, ' ', copy),
            h('p', { class: 'small muted' }, `${answer.record.name} · ${answer.record.id} · expires ${stamp(answer.record.expiresAt)}`)));
          name.value = '';
          agentCode.value = '';
          await load();
        } catch (error) {
          replace(created, problem(error, 'Not created'));
        }
      },
    }, h('h2', null, 'New registration token'), h('div', { class: 'filters' }, field('Name', name), field('Agent code', agentCode), field('Expires in', expires),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Create token'))));
  }

  replace(main, h('div', { class: 'page-head' }, h('h1', null, 'Registration tokens')), createForm, created, filterForm, message, results, pager);

  async function revoke(token) {
    if (!(await confirmDialog({ title: `Revoke token ${token.name}?`, text: 'No agent can enrol with it any more.', confirm: 'Revoke token' }))) return;
    try {
      await call('broker', 'token.revoke', { id: token.id });
      replace(message, note(`Revoked ${token.name}.`, 'info'));
      await load();
    } catch (error) {
      replace(message, problem(error, 'Not revoked'));
    }
  }

  const cursors = [];
  let cursor;
  async function load() {
    const params = { limit: 100 };
    if (status.value) params.status = status.value;
    if (cursor) params.cursor = cursor;
    try {
      const page = await call('broker', 'token.list', params);
      if (!alive()) return;
      replace(results, table([
        { label: 'Name', cell: (t) => h('div', null, h('strong', null, t.name), h('div', { class: 'mono muted small' }, t.id)) },
        { label: 'Status', cell: (t) => badge(t.status) },
        { label: 'Agent code', class: 'wide', cell: (t) => t.agentCode || h('span', { class: 'muted' }, 'any new code') },
        { label: 'Created', class: 'wide', cell: (t) => h('span', null, when(t.createdAt), h('div', { class: 'muted small' }, t.createdBy)) },
        { label: 'Expires', cell: (t) => when(t.expiresAt) },
        { label: 'Used by', class: 'wide', cell: (t) => (t.usedBy ? h('span', { class: 'mono' }, t.usedBy) : '—') },
        canChange ? { label: 'Change', cell: (t) => (t.status === 'ACTIVE' ? h('button', { type: 'button', class: 'small danger-button', dataset: { revoke: t.name }, onclick() { revoke(t); } }, 'Revoke') : '') } : null,
      ].filter(Boolean), page.items, { empty: 'No token matches.', rowAttrs: (t) => ({ dataset: { token: t.name, status: t.status } }) }));
      replace(pager, ...(cursors.length === 0 && !page.next ? [] : [
        h('button', { type: 'button', class: 'ghost', disabled: cursors.length === 0, onclick() { cursor = cursors.pop(); load(); } }, '← Newer'),
        h('button', { type: 'button', class: 'ghost', disabled: !page.next, onclick() { cursors.push(cursor); cursor = page.next; load(); } }, 'Older →')]));
    } catch (error) {
      if (alive()) replace(results, problem(error));
    }
  }
  await load();
}
