// Dashboard: counts per effectiveStatus and per agent status, running commands, the latest
// transitions and commands. Live over server-sent events: nothing reloads, nothing polls.

import { call, events } from '../api.js';
import { h, replace, table } from '../dom.js';
import { badge, when, problem } from '../format.js';

const serviceStatuses = ['HEALTHY', 'UNHEALTHY', 'STALE', 'OFFLINE', 'UNKNOWN'];
const agentStatuses = ['ONLINE', 'OFFLINE', 'PENDING', 'DISABLED', 'REVOKED'];

function subjectLink(subject) {
  const [kind, ...rest] = subject.split(':');
  const id = rest.join(':');
  if (kind === 'service') return h('a', { href: `#/services/${encodeURIComponent(id)}` }, id);
  if (kind === 'command') return h('a', { href: `#/commands/${encodeURIComponent(id)}` }, id);
  if (kind === 'agent') return h('a', { href: `#/agents?focus=${encodeURIComponent(id)}` }, subject);
  return subject;
}

export function transitionsTable(records) {
  return table([
    { label: 'When', cell: (r) => when(r.event.at) },
    { label: 'Subject', cell: (r) => subjectLink(r.event.subject) },
    { label: 'Change', cell: (r) => h('span', { class: 'change' }, badge(r.event.from), ' → ', badge(r.event.to)) },
    { label: 'Reason', class: 'wide', cell: (r) => r.event.reason || '' },
  ], records, { empty: 'No transitions yet.', rowAttrs: (r) => ({ dataset: { subject: r.event.subject, to: r.event.to || '' } }) });
}

export function commandsTable(items, empty = 'No commands.') {
  return table([
    { label: 'Command', cell: (c) => h('a', { href: `#/commands/${encodeURIComponent(c.id)}`, class: 'mono' }, c.id) },
    { label: 'Service', cell: (c) => h('a', { href: `#/services/${encodeURIComponent(c.serviceCode)}` }, c.serviceCode) },
    { label: 'Action', cell: (c) => c.action },
    { label: 'Status', cell: (c) => badge(c.status) },
    { label: 'By', class: 'wide', cell: (c) => c.actor },
    { label: 'Created', cell: (c) => when(c.createdAt) },
  ], items, { empty, rowAttrs: (c) => ({ dataset: { command: c.id, status: c.status } }) });
}

export async function render(main, { ctx, alive }) {
  const live = h('span', { class: 'live', id: 'live-state' }, 'connecting…');
  const serviceCards = h('div', { class: 'cards', id: 'service-counts' });
  const agentCards = h('div', { class: 'cards', id: 'agent-counts' });
  const running = h('div', { id: 'running' });
  const transitions = h('div', { id: 'transitions' });
  const latest = h('div', { id: 'latest-commands' });
  const cluster = h('div', { id: 'cluster' });
  const trouble = h('div', { id: 'dashboard-problem' });
  replace(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Dashboard'), live),
    trouble,
    h('section', { 'aria-labelledby': 'h-services' }, h('h2', { id: 'h-services' }, 'Services by status'), serviceCards),
    h('section', { 'aria-labelledby': 'h-agents' }, h('h2', { id: 'h-agents' }, 'Agents by status'), agentCards),
    h('div', { class: 'columns' },
      h('section', { 'aria-labelledby': 'h-running' }, h('h2', { id: 'h-running' }, 'Running and pending commands'), running),
      h('section', { 'aria-labelledby': 'h-cluster' }, h('h2', { id: 'h-cluster' }, 'Control plane'), cluster)),
    h('section', { 'aria-labelledby': 'h-transitions' }, h('h2', { id: 'h-transitions' }, 'Latest transitions'), transitions),
    h('section', { 'aria-labelledby': 'h-latest' }, h('h2', { id: 'h-latest' }, 'Latest commands'), latest));

  function showSummary(summary) {
    const cards = (statuses, counts, total, href, kind) => [
      ...statuses.map((status) => h('a', { class: ['card', 'tone-' + status], href: href(status), dataset: { count: `${kind}-${status}` } },
        h('span', { class: 'n' }, String(counts[status] ?? 0)), h('span', { class: 'label' }, status))),
      h('div', { class: 'card total', dataset: { count: `${kind}-total` } }, h('span', { class: 'n' }, String(total)), h('span', { class: 'label' }, 'total')),
    ];
    replace(serviceCards, cards(serviceStatuses, summary.services, summary.totalServices, (s) => `#/services?status=${s}`, 'service'));
    replace(agentCards, cards(agentStatuses, summary.agents, summary.totalAgents, (s) => `#/agents?status=${s}`, 'agent'));
  }

  let transitionRows = [];
  let drawTimer = null;
  function showTransitions() {
    replace(transitions, transitionsTable(transitionRows.slice(0, 12)));
  }
  // A big fleet can move many services at once: draw at most four times a second.
  function showTransitionsSoon() {
    if (drawTimer === null) drawTimer = setTimeout(() => { drawTimer = null; showTransitions(); }, 250);
  }

  let refreshTimer = null;
  async function refreshLatest() {
    try {
      const page = await call('broker', 'command.list', { limit: 10 });
      if (alive()) replace(latest, commandsTable(page.items));
    } catch (error) {
      if (alive()) replace(latest, problem(error));
    }
  }

  async function refreshCluster() {
    try {
      const info = await call('broker', 'cluster.info');
      if (!alive()) return;
      replace(cluster, table([
        { label: 'Component', cell: (c) => c.name },
        { label: 'Connected', cell: (c) => badge(c.connected ? 'ONLINE' : 'OFFLINE') },
        { label: 'Version', class: 'wide', cell: (c) => c.version || '—' },
        { label: 'Last seen', cell: (c) => when(c.lastSeenAt) },
        { label: 'Audit lag', class: 'wide', cell: (c) => (c.lag === undefined || c.lag === null ? '—' : String(c.lag)) },
      ], info.components));
    } catch (error) {
      if (alive()) replace(cluster, problem(error));
    }
  }

  const [summary, serviceMoves, agentMoves] = await Promise.all([
    call('aggregator', 'status.summary'),
    call('audit', 'audit.query', { action: 'service.transition', limit: 12 }),
    call('audit', 'audit.query', { action: 'agent.transition', limit: 12 }),
    refreshLatest(), refreshCluster(),
  ]);
  showSummary(summary);
  transitionRows = [...serviceMoves.records, ...agentMoves.records].sort((a, b) => b.id - a.id);
  showTransitions();
  replace(running, commandsTable([], 'No command is running.'));
  const newest = transitionRows.length ? transitionRows[0].id : undefined;
  let clusterSoon = null;

  const stop = events({ summary: 1, after: newest }, {
    state(state) {
      live.textContent = state === 'live' ? '● live' : state === 'closed' ? 'disconnected' : 'reconnecting…';
      live.className = 'live is-' + state;
    },
    summary(snapshot) {
      replace(trouble);
      showSummary(snapshot.summary);
      replace(running, commandsTable(snapshot.running, 'No command is running.'));
    },
    audit(record) {
      if (record.event.action.endsWith('.transition') && !transitionRows.some((r) => r.id === record.id)) {
        transitionRows.unshift(record);
        transitionRows = transitionRows.slice(0, 50);
        showTransitionsSoon();
      }
      if (record.event.action.startsWith('command.')) {
        clearTimeout(refreshTimer);
        refreshTimer = setTimeout(refreshLatest, 300);
      }
      if (record.event.subject.startsWith('internal:') && clusterSoon === null) {
        clusterSoon = setTimeout(() => { clusterSoon = null; refreshCluster(); }, 1000);
      }
    },
    problem(error) {
      replace(trouble, problem(error, 'Live updates paused'));
    },
  });
  const clusterTimer = setInterval(refreshCluster, 15000);
  return () => {
    stop();
    clearTimeout(refreshTimer);
    clearTimeout(drawTimer);
    clearTimeout(clusterSoon);
    clearInterval(clusterTimer);
  };
}
