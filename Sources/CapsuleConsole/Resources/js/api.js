// The console's API: one POST per broker operation, forwarded with this console's key. The broker
// checks the key's role for every one of them; the page only hides what the role cannot use.

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** The console's own time for the last answer (from Server-Timing), in ms. */
export let lastTiming = null;

async function readAnswer(response) {
  const timing = /console;dur=([0-9.]+)/.exec(response.headers.get('Server-Timing') || '');
  lastTiming = timing ? Number(timing[1]) : null;
  let body = null;
  try {
    body = await response.json();
  } catch {
    throw new ApiError('bad_reply', `the console answered ${response.status} without JSON`, response.status);
  }
  if (!response.ok || (body && body.error)) {
    const error = (body && body.error) || {};
    if (response.status === 401) window.dispatchEvent(new CustomEvent('capsule:unauthorized'));
    throw new ApiError(error.code || 'http_' + response.status, error.message || `HTTP ${response.status}`, response.status);
  }
  return body;
}

/** Runs `service`/`op` with `params`; resolves to the result or throws an ApiError. */
export async function call(service, op, params = {}, { signal } = {}) {
  let response;
  try {
    response = await fetch(`/api/${encodeURIComponent(service)}/${encodeURIComponent(op)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Capsule-Console': '1' },
      body: JSON.stringify(params),
      credentials: 'same-origin',
      signal,
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError('unreachable', 'the console does not answer (was capsulectl console stopped?)', 0);
  }
  return readAnswer(response);
}

export async function post(path, params) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Capsule-Console': '1' },
    body: JSON.stringify(params),
    credentials: 'same-origin',
  });
  return readAnswer(response);
}

export async function session() {
  const response = await fetch('/api/session', { credentials: 'same-origin' });
  return readAnswer(response);
}

/** Reads every page of a paged operation (up to `max` items). */
export async function allPages(service, op, params, max = 5000) {
  const items = [];
  let cursor;
  do {
    const page = await call(service, op, { ...params, cursor, limit: 500 });
    items.push(...page.items);
    cursor = page.next;
  } while (cursor && items.length < max);
  return items;
}

/** A live stream of audit records (and, with summary, the dashboard's numbers). */
export function events(query, handlers) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== '') params.set(key, value);
  const source = new EventSource('/api/events?' + params.toString());
  source.addEventListener('open', () => handlers.state && handlers.state('live'));
  source.addEventListener('error', () => handlers.state && handlers.state(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
  source.addEventListener('audit', (event) => handlers.audit && handlers.audit(JSON.parse(event.data)));
  source.addEventListener('summary', (event) => handlers.summary && handlers.summary(JSON.parse(event.data)));
  source.addEventListener('problem', (event) => handlers.problem && handlers.problem(JSON.parse(event.data)));
  return () => source.close();
}
