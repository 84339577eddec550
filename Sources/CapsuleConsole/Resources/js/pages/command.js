// One command: its record, payload (redacted), result, its audit timeline; cancel while it is not
// done, retry once it is. Live while it runs.

import { call } from '../api.js';
import { h, replace, table } from '../dom.js';
import { badge, when, stamp, json, problem, note, terminal } from '../format.js';
import { confirmDialog } from './confirm.js';

export async function render(main, { params: [id], ctx, alive }) {
  let record = await call('broker', 'command.get', { id });
  const body = h('div');
  const message = h('div', { id: 'command-problem', 'aria-live': 'polite' });
  replace(main, h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/commands' }, 'Commands'), ' / ', id), message, body);

  async function timeline() {
    try {
      const page = await call('audit', 'audit.query', { subject: `command:${id}`, ascending: true, limit: 100 });
      return table([
        { label: 'When', cell: (r) => h('span', null, stamp(r.event.at)) },
        { label: 'Event', cell: (r) => r.event.action },
        { label: 'Change', cell: (r) => (r.event.from || r.event.to ? h('span', null, badge(r.event.from), ' → ', badge(r.event.to)) : '') },
        { label: 'By', class: 'wide', cell: (r) => r.event.actor },
        { label: 'Reason', class: 'wide', cell: (r) => r.event.reason || '' },
      ], page.records, { empty: 'No audit events yet (they arrive within a second).' });
    } catch (error) {
      return problem(error);
    }
  }

  async function draw() {
    const r = record;
    const buttons = [];
    if (ctx.can('operator') && !terminal.has(r.status)) {
      buttons.push(h('button', { type: 'button', class: 'danger-button', id: 'cancel-command', async onclick() {
        if (!(await confirmDialog({ title: 'Cancel this command?', text: `${r.action} on ${r.serviceCode} will not run (the agent is told if it already has it).`, confirm: 'Cancel the command' }))) return;
        try {
          record = await call('broker', 'command.cancel', { id });
          replace(message, note('Cancelled.', 'info'));
          draw();
        } catch (error) {
          replace(message, problem(error, 'Not cancelled'));
        }
      } }, 'Cancel command'));
    }
    if (ctx.can('operator') && terminal.has(r.status)) {
      buttons.push(h('button', { type: 'button', id: 'retry-command', async onclick() {
        const params = { id };
        try {
          let created;
          try {
            created = await call('broker', 'command.retry', params);
          } catch (error) {
            if (error.code !== 'confirmation_required') throw error;
            if (!(await confirmDialog({ title: 'This action requires confirmation', text: `Run ${r.action} on ${r.serviceCode} again with the same payload?`, confirm: 'Confirm and retry' }))) return;
            created = await call('broker', 'command.retry', { id, confirm: true });
          }
          ctx.go(`#/commands/${encodeURIComponent(created.id)}`);
        } catch (error) {
          replace(message, problem(error, 'Not retried'));
        }
      } }, 'Retry'));
    }
    replace(body,
      h('div', { class: 'page-head' }, h('h1', null, `${r.action} on `, h('a', { href: `#/services/${encodeURIComponent(r.serviceCode)}` }, r.serviceCode), ' ', h('span', { id: 'command-status', dataset: { status: r.status } }, badge(r.status))),
        buttons.length ? h('div', { class: 'actions' }, buttons) : null),
      h('div', { class: 'columns' },
        h('section', { class: 'panel' }, h('h2', null, 'Command'), h('dl', { class: 'facts' },
          h('dt', null, 'Id'), h('dd', { class: 'mono' }, r.id),
          h('dt', null, 'Agent'), h('dd', { class: 'mono' }, r.agentId),
          h('dt', null, 'By'), h('dd', null, r.actor),
          h('dt', null, 'Created'), h('dd', null, stamp(r.createdAt)),
          h('dt', null, 'Started'), h('dd', null, stamp(r.startedAt)),
          h('dt', null, 'Completed'), h('dd', null, stamp(r.completedAt)),
          h('dt', null, 'Expires'), h('dd', null, when(r.expiresAt)),
          h('dt', null, 'Deliveries'), h('dd', null, String(r.deliveries)),
          r.retryOf ? [h('dt', null, 'Retry of'), h('dd', null, h('a', { href: `#/commands/${encodeURIComponent(r.retryOf)}`, class: 'mono' }, r.retryOf))] : null,
          r.durationMs !== undefined ? [h('dt', null, 'Took'), h('dd', null, `${r.durationMs} ms`)] : null)),
        h('section', { class: 'panel' }, h('h2', null, 'Result'),
          terminal.has(r.status) ? h('dl', { class: 'facts' },
            h('dt', null, 'Success'), h('dd', null, r.success === undefined ? '—' : String(r.success)),
            h('dt', null, 'Message'), h('dd', null, r.message || '—'),
            r.errorCode ? [h('dt', null, 'Error'), h('dd', null, h('code', null, r.errorCode), ' ', r.errorMessage || '')] : null)
            : h('p', { class: 'muted' }, 'Not done yet; this page follows it.'),
          r.data !== undefined ? [h('h3', null, 'Data'), json(r.data)] : null)),
      h('section', null, h('h2', null, 'Payload (redacted)'), json(r.payload)),
      h('section', null, h('h2', null, 'Timeline'), await timeline()));
  }
  await draw();
  // Follow it while it runs: command.wait answers as soon as the status moves.
  (async () => {
    while (alive() && !terminal.has(record.status)) {
      try {
        record = await call('broker', 'command.wait', { id, after: record.status, timeoutSeconds: 25 });
        if (alive()) await draw();
      } catch (error) {
        if (alive()) replace(message, problem(error));
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  })();
}
