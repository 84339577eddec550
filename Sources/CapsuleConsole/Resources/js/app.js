// The console's shell: who this key is, the sections, hash routing, the theme.

import * as api from './api.js';
import { h, replace } from './dom.js';
import { problem, refreshTimes } from './format.js';
import * as dashboard from './pages/dashboard.js';
import * as services from './pages/services.js';
import * as service from './pages/service.js';
import * as run from './pages/run.js';
import * as commands from './pages/commands.js';
import * as command from './pages/command.js';
import * as audit from './pages/audit.js';
import * as agents from './pages/agents.js';
import * as tokens from './pages/tokens.js';
import * as operators from './pages/operators.js';

const roles = ['viewer', 'operator', 'owner'];

/** What every page gets: the session, and `can(role)` to decide which buttons to show. */
const context = {
  session: null,
  can(role) {
    const mine = this.session ? roles.indexOf(this.session.operator.role) : -1;
    return mine >= roles.indexOf(role);
  },
  /** Navigates to `hash` (e.g. '#/services?status=STALE'). */
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

const routes = [
  [/^\/?$/, 'dashboard', dashboard],
  [/^\/services$/, 'services', services],
  [/^\/services\/([^/]+)$/, 'services', service],
  [/^\/services\/([^/]+)\/run\/([^/]+)$/, 'services', run],
  [/^\/commands$/, 'commands', commands],
  [/^\/commands\/([^/]+)$/, 'commands', command],
  [/^\/audit$/, 'audit', audit],
  [/^\/agents$/, 'agents', agents],
  [/^\/tokens$/, 'tokens', tokens],
  [/^\/operators$/, 'operators', operators],
];

let cleanup = null;
let generation = 0;
// Set when the operator picks a section from the menu: the new page then takes the focus.
let focusPage = false;

/** Reads `#/path?query` into a path and URLSearchParams. */
export function currentRoute() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path, query: new URLSearchParams(query) };
}

async function route() {
  const { path, query } = currentRoute();
  if (cleanup) {
    try { cleanup(); } catch { /* a page that is gone */ }
    cleanup = null;
  }
  generation += 1;
  const mine = generation;
  const main = document.getElementById('main');
  const match = routes.map(([pattern, section, page]) => [pattern.exec(path), section, page]).find(([m]) => m);
  for (const link of document.querySelectorAll('#nav a')) {
    if (match && link.dataset.section === match[1]) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (!match) {
    replace(main, h('h1', null, 'Not found'), h('p', null, 'No such page. ', h('a', { href: '#/' }, 'Back to the dashboard')));
    return;
  }
  const [found, , page] = match;
  const params = found.slice(1).map(decodeURIComponent);
  replace(main, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const stop = await page.render(main, { params, query, ctx: context, alive: () => mine === generation });
    if (mine === generation) cleanup = typeof stop === 'function' ? stop : null;
    else if (typeof stop === 'function') stop();
  } catch (error) {
    if (mine === generation) replace(main, h('h1', null, 'Something went wrong'), problem(error));
  }
  // A page picked from the menu takes the focus, for keyboards and screen readers; a filter
  // submitted on the page keeps it where it was.
  if (mine === generation && (focusPage || document.activeElement === document.body)) main.focus({ preventScroll: true });
  focusPage = false;
}

// MARK: Theme: system (default), light or dark, remembered in this browser.

const themes = ['system', 'light', 'dark'];
function applyTheme(theme) {
  if (theme === 'system') document.documentElement.removeAttribute('data-theme');
  else document.documentElement.setAttribute('data-theme', theme);
  document.getElementById('theme').textContent = `Theme: ${theme}`;
}

function setupTheme() {
  let theme = localStorage.getItem('capsule.theme') || 'system';
  if (!themes.includes(theme)) theme = 'system';
  applyTheme(theme);
  document.getElementById('theme').addEventListener('click', () => {
    theme = themes[(themes.indexOf(theme) + 1) % themes.length];
    localStorage.setItem('capsule.theme', theme);
    applyTheme(theme);
  });
}

function banner(node) {
  replace(document.getElementById('banner'), node);
}

async function start() {
  setupTheme();
  window.addEventListener('capsule:unauthorized', () => banner(h('div', { class: 'alert bad' },
    'This browser session has no valid console secret any more. Open the URL that capsulectl console printed.')));
  try {
    context.session = await api.session();
  } catch (error) {
    banner(problem(error, 'Cannot read who this console is'));
  }
  const who = document.getElementById('who');
  if (context.session) {
    const { name, role } = context.session.operator;
    replace(who, h('span', { title: `Broker ${context.session.console.broker}` }, name, ' ', h('span', { class: 'badge tone-' + (role === 'owner' ? 'ok' : role === 'operator' ? 'info' : 'muted') }, role)));
    document.body.dataset.role = role;
  }
  document.getElementById('nav').addEventListener('click', (event) => { if (event.target.closest('a')) focusPage = true; });
  window.addEventListener('hashchange', route);
  setInterval(refreshTimes, 10000);
  await route();
}

start();
