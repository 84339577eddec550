import { h } from './dom.js';

const tones = {
  HEALTHY: 'ok', UP: 'ok', ONLINE: 'ok', SUCCEEDED: 'ok', ACTIVE: 'ok', SUCCESS: 'ok',
  UNHEALTHY: 'bad', DOWN: 'bad', FAILED: 'bad', FAILURE: 'bad', REVOKED: 'bad',
  STALE: 'warn', DEGRADED: 'warn', PENDING: 'info', RUNNING: 'info',
  OFFLINE: 'muted', DISABLED: 'muted', EXPIRED: 'muted', CANCELLED: 'muted', UNKNOWN: 'muted', USED: 'muted',
  LOW: 'muted', MEDIUM: 'warn', HIGH: 'bad', CRITICAL: 'critical',
  viewer: 'muted', operator: 'info', owner: 'ok',
};

/** A status word as a coloured badge; the word itself is always shown, colour is never the only cue. */
export function badge(value, extra) {
  if (value === null || value === undefined || value === '') return h('span', { class: 'muted' }, '—');
  return h('span', { class: ['badge', 'tone-' + (tones[value] || 'muted'), extra] }, String(value));
}

export function danger(level) {
  return h('span', { class: ['badge', 'danger', 'tone-' + (tones[level] || 'muted')], title: 'Danger level' }, `danger ${level}`);
}

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

const millis = (value) => (typeof value === 'string' ? Date.parse(value) : value);

export function when(value) {
  const ms = millis(value);
  if (ms === null || ms === undefined || Number.isNaN(ms)) return h('span', { class: 'muted' }, '—');
  const date = new Date(ms);
  return h('time', { datetime: date.toISOString(), title: date.toISOString() }, ago(ms));
}

export function ago(ms) {
  const seconds = Math.round((Date.now() - ms) / 1000);
  if (Math.abs(seconds) < 5) return 'just now';
  const future = seconds < 0;
  const s = Math.abs(seconds);
  const text = s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min` : s < 86400 ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

const clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const day = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** A short time for dense tables: the time of day, with the date when it is not today. */
export function short(value) {
  const ms = millis(value);
  if (ms === null || ms === undefined || Number.isNaN(ms)) return h('span', { class: 'muted' }, '—');
  const date = new Date(ms);
  const today = new Date().toDateString() === date.toDateString();
  return h('time', { class: 'nowrap', title: date.toISOString() }, today ? clock.format(date) : `${day.format(date)}, ${clock.format(date)}`);
}

export function stamp(value) {
  const ms = millis(value);
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  return absolute.format(new Date(ms));
}

/** JSON, pretty, as text in a <pre>. */
export function json(value) {
  return h('pre', { class: 'json' }, value === undefined ? '—' : JSON.stringify(value, null, 2));
}

/** A failure from the API, as a message block. */
export function problem(error, prefix) {
  const code = error && error.code ? error.code : 'error';
  const message = error && error.message ? error.message : String(error);
  return h('div', { class: 'alert bad', role: 'alert' },
    h('strong', null, prefix ? `${prefix}: ` : ''), message, ' ', h('code', { class: 'muted' }, code));
}

export function note(text, tone = 'info') {
  return h('div', { class: ['alert', tone], role: 'status' }, text);
}

/** Parses an age such as 30s, 10m, 2h, 7d (or an ISO 8601 time) into epoch ms, as capsulectl does. */
export function parseTime(text) {
  const value = (text || '').trim();
  if (!value) return null;
  const age = /^(\d+(?:\.\d+)?)\s*([smhd])$/.exec(value);
  if (age) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[age[2]];
    return Date.now() - Number(age[1]) * unit * 1000;
  }
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? undefined : parsed;
}

export const terminal = new Set(['SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED']);

/** Keeps every "5 min ago" on the page current. */
export function refreshTimes() {
  for (const node of document.querySelectorAll('time[datetime]')) node.textContent = ago(Date.parse(node.getAttribute('datetime')));
}
