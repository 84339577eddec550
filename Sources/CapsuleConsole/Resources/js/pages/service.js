// One service: status beside the latest reported health, its manifest, configs (redacted by the
// broker; sensitive ones carry only a secretRef), actions, and its latest commands.

import { call } from '../api.js';
import { h, replace, table } from '../dom.js';
import { badge, danger, when, stamp, json, problem } from '../format.js';
import { commandsTable } from './dashboard.js';

function facts(rows) {
  return h('dl', { class: 'facts' }, rows.filter(Boolean).map(([term, value]) => [h('dt', null, term), h('dd', null, value)]));
}

export async function render(main, { params: [code], ctx, alive }) {
  const [detail, commands] = await Promise.all([
    call('aggregator', 'service.show', { code }),
    call('broker', 'command.list', { service: code, limit: 10 }).catch((error) => ({ error })),
  ]);
  const s = detail.status;
  const manifest = detail.manifest;
  const actions = manifest ? manifest.actions : [];
  const canRun = ctx.can('operator');

  const actionCards = actions.length === 0 ? h('p', { class: 'muted' }, 'This service declares no actions.')
    : h('ul', { class: 'action-list' }, actions.map((action) => h('li', { class: 'action-card', dataset: { action: action.name } },
      h('div', { class: 'action-head' },
        h('h3', null, action.label || action.name, h('code', null, action.name)), danger(action.dangerLevel),
        action.requiresConfirmation ? h('span', { class: 'badge tone-warn' }, 'needs confirmation') : null),
      action.description ? h('p', null, action.description) : null,
      h('p', { class: 'muted small' },
        action.inputSchema ? 'Takes input (a form is made from its schema).' : 'Takes no input.',
        action.timeoutSeconds ? ` Expires after ${action.timeoutSeconds} s.` : ''),
      // A viewer gets no button it may not use; the broker refuses the request anyway.
      canRun ? h('a', { class: 'button', href: `#/services/${encodeURIComponent(code)}/run/${encodeURIComponent(action.name)}`, dataset: { run: action.name } }, `Run ${action.label || action.name}…`) : null)));

  const configs = manifest ? table([
    { label: 'Key', cell: (c) => h('code', null, c.key) },
    { label: 'Value', cell: (c) => (c.sensitive
      ? h('span', { class: 'secret' }, h('span', { class: 'badge tone-warn' }, 'sensitive'), ' ', c.secretRef ? h('code', null, `secretRef ${c.secretRef}`) : h('span', { class: 'muted' }, 'no secretRef'))
      : h('code', { class: 'value' }, c.value === undefined ? '—' : JSON.stringify(c.value))) },
  ], manifest.configs, { empty: 'No configuration reported.' }) : h('p', { class: 'muted' }, 'No manifest reported yet.');

  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/services' }, 'Services'), ' / ', code),
    h('div', { class: 'page-head' }, h('h1', null, manifest ? manifest.name : code, ' ', badge(s.status)),
      h('span', { class: 'muted' }, code, manifest ? ` · v${manifest.version} · ${manifest.runtime}` : '')),
    h('div', { class: 'columns' },
      h('section', { class: 'panel', 'aria-labelledby': 'h-status' }, h('h2', { id: 'h-status' }, 'Status'), facts([
        ['Effective status', badge(s.status)],
        ['Reason', s.reason],
        ['Since', s.changedAt ? h('span', null, when(s.changedAt), ' ', h('span', { class: 'muted small' }, stamp(s.changedAt))) : '—'],
        ['Agent', h('span', null, s.agentCode || '—', ' ', h('code', { class: 'muted small' }, s.agentId), ' ', badge(s.agentStatus))],
        ['Last heartbeat', when(s.lastHeartbeatAt)],
      ])),
      h('section', { class: 'panel', 'aria-labelledby': 'h-health' }, h('h2', { id: 'h-health' }, 'Latest health'), facts([
        ['Reported', badge(s.healthStatus)],
        ['Message', s.healthMessage || '—'],
        ['At', when(s.healthAt)],
      ]), h('h3', null, 'Details'), detail.healthDetails === undefined || detail.healthDetails === null ? h('p', { class: 'muted' }, 'None.') : json(detail.healthDetails))),
    h('section', { 'aria-labelledby': 'h-actions' }, h('h2', { id: 'h-actions' }, 'Actions'), actionCards),
    h('section', { 'aria-labelledby': 'h-configs' }, h('h2', { id: 'h-configs' }, 'Configuration'), configs),
    h('section', { 'aria-labelledby': 'h-commands' }, h('h2', { id: 'h-commands' }, 'Latest commands'),
      commands.error ? problem(commands.error) : commandsTable(commands.items, 'No command has run on this service yet.'),
      h('p', null, h('a', { href: `#/commands?service=${encodeURIComponent(code)}` }, 'All commands of this service →'))),
    manifest ? h('details', { class: 'panel' }, h('summary', null, 'Manifest as reported (redacted)'), json(manifest)) : null);
}
