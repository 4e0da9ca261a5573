/**
 * The few OpenStack REST calls `up` and `status` make (catalog, image, flavor, quota, segment, service
 * list), with Node's fetch: no CLI start-up per call, and a failure names the request and the answer.
 */
import { LabFailure } from './processes';

export interface Session {
  readonly token: string;
  readonly projectId: string;
}

export interface CallSpec {
  readonly service: string;
  readonly method?: string;
  readonly url: string;
  readonly token?: string;
  readonly body?: unknown;
  readonly raw?: Buffer;
  readonly headers?: Record<string, string>;
  /** Statuses that count as success (default: any 2xx). */
  readonly ok?: readonly number[];
  /** Where the service logs, quoted on failure. */
  readonly log?: string;
  readonly timeoutMs?: number;
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: any; // OpenStack bodies, read field by field
}

export async function call(spec: CallSpec): Promise<Answer> {
  const method = spec.method ?? (spec.body === undefined && spec.raw === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { Accept: 'application/json', Connection: 'close', ...spec.headers };
  if (spec.token) headers['X-Auth-Token'] = spec.token;
  let body: string | Buffer | undefined;
  if (spec.raw !== undefined) {
    body = spec.raw;
    headers['Content-Type'] ??= 'application/octet-stream';
  } else if (spec.body !== undefined) {
    body = JSON.stringify(spec.body);
    headers['Content-Type'] = 'application/json';
  }
  const what = `${method} ${spec.url}`;
  let response: Response;
  try {
    response = await fetch(spec.url, { method, headers, body, signal: AbortSignal.timeout(spec.timeoutMs ?? 60_000) });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    throw new LabFailure(spec.service, `${what} failed: ${(error as Error).message}${cause ? ` (${cause})` : ''}`, { command: what, log: spec.log });
  }
  const text = await response.text();
  const ok = spec.ok ? spec.ok.includes(response.status) : response.status >= 200 && response.status < 300;
  if (!ok) {
    throw new LabFailure(spec.service, `${what} answered ${response.status}: ${text.slice(0, 600)}`, { command: what, log: spec.log });
  }
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, json };
}

/** A project-scoped token for a user of the Default domain. */
export async function login(authUrl: string, user: string, password: string, project: string, log?: string): Promise<Session> {
  const answer = await call({
    service: 'keystone',
    url: `${authUrl}/auth/tokens`,
    body: {
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } },
        scope: { project: { name: project, domain: { id: 'default' } } },
      },
    },
    log,
  });
  const token = answer.headers.get('x-subject-token');
  if (!token) throw new LabFailure('keystone', 'Keystone answered no X-Subject-Token', { log });
  return { token, projectId: String(answer.json.token.project.id) };
}
