/** The mass-failure breaker (docs/breaker.md): its status, approving held hosts, closing it. */
import { ApproveBody, BreakerStatusView, CloseBody, ReleaseResult, ScopeParams } from '../codecs';
import { relocate } from '../http-errors';
import { defineRoute } from '../route';

/** The breaker names `scope` and `hosts`; the client sent them in the path and the body. */
const where = (path: string) => (path === 'scope' ? 'params.scope' : path === 'hosts' ? 'body.hosts' : path);

export const breakerStatus = defineRoute({
  method: 'GET',
  url: '/api/v1/breaker',
  summary: 'The mass-failure breaker per scope: open or closed, failed, held and approved hosts, held recoveries',
  tags: ['breaker'],
  access: 'viewer',
  mutates: false,
  input: {},
  response: { codec: BreakerStatusView, statuses: { 200: 'the breaker status' } },
  async handler({ deps }) {
    const status = await deps.app.breaker.status();
    return { status: 200, body: { ...status, scopes: status.scopes.map((s) => ({ ...s, failedHosts: [...s.failedHosts], heldHosts: [...s.heldHosts], approvedHosts: [...s.approvedHosts], heldRecoveries: [...s.heldRecoveries] })) } };
  },
});

export const breakerApprove = defineRoute({
  method: 'POST',
  url: '/api/v1/breaker/:scope/approve',
  summary: 'Let the held recoveries of some (or all) hosts of an open breaker go on; it stays open',
  description: 'Without `hosts` (or with `"all"`) every held host is approved. Recorded in the audit trail with the token name as `by`.',
  tags: ['breaker'],
  access: 'operator',
  mutates: true,
  input: { params: ScopeParams, body: ApproveBody },
  response: { codec: ReleaseResult, statuses: { 200: 'the hosts approved and the recoveries released' } },
  async handler({ params, body, principal, deps }) {
    try {
      const result = await deps.app.breaker.approve(params.scope, body.hosts ?? 'all', principal!.name, body.comment);
      return { status: 200, body: { scope: result.scope, approved: [...result.approved], released: [...result.released] } };
    } catch (err) {
      throw relocate(err, where);
    }
  },
});

export const breakerClose = defineRoute({
  method: 'POST',
  url: '/api/v1/breaker/:scope/close',
  summary: 'Close the breaker of a scope: release every held recovery, count failures afresh',
  description: 'Recorded in the audit trail with the token name as `by`.',
  tags: ['breaker'],
  access: 'operator',
  mutates: true,
  input: { params: ScopeParams, body: CloseBody },
  response: { codec: ReleaseResult, statuses: { 200: 'the breaker is closed' } },
  async handler({ params, body, principal, deps }) {
    try {
      const result = await deps.app.breaker.close(params.scope, principal!.name, body.comment);
      return { status: 200, body: { scope: result.scope, approved: [...result.approved], released: [...result.released], wasOpen: result.wasOpen } };
    } catch (err) {
      throw relocate(err, where);
    }
  },
});
