/** The policy file (docs/policies.md): read the running one, reload it from disk. */
import { readFile } from 'node:fs/promises';
import { TOKENS } from '../../container';
import type { Clock } from '../../domain';
import { isoNow } from '../../domain';
import { AuditLog } from '../../engine/audit-log';
import { PolicyReloadResult, PolicyView } from '../codecs';
import { ApiError } from '../http-errors';
import { defineRoute } from '../route';

/** The audit trail of policy changes: `resurrect audit policy`. */
export const POLICY_TRAIL = 'policy';

export const getPolicy = defineRoute({
  method: 'GET',
  url: '/api/v1/policy',
  summary: 'The running policy: file, version and rules (the document as loaded)',
  description: 'Without `policy.file` configured, `configured` is false and `workflows` (per failure kind) is what decides.',
  tags: ['policy'],
  access: 'viewer',
  mutates: false,
  input: {},
  response: { codec: PolicyView, statuses: { 200: 'the running policy' } },
  async handler({ deps }) {
    const policy = deps.app.engine.currentPolicy();
    const workflows = { ...deps.config.workflows };
    if (!policy) return { status: 200, body: { configured: false, workflows } };
    return { status: 200, body: { configured: true, workflows, file: policy.file, version: policy.version, document: { ...policy.document } } };
  },
});

export const reloadPolicy = defineRoute({
  method: 'POST',
  url: '/api/v1/policy/reload',
  summary: 'Re-read the configured policy file (as SIGHUP does)',
  description: 'A file that does not validate is refused with every field path (400) and the running policy stays. '
    + 'Recoveries already started keep the version they recorded. The reload is recorded in the audit trail `policy` with the token name. '
    + 'It reloads the policy of this API process; engines in other processes reload on their own SIGHUP.',
  tags: ['policy'],
  access: 'admin',
  mutates: true,
  input: {},
  response: { codec: PolicyReloadResult, statuses: { 200: 'the policy now in force (changed or not)' } },
  errors: { 409: 'no policy file is configured, or it cannot be read' },
  async handler({ principal, deps }) {
    const file = deps.config.policy.file;
    if (!file) throw new ApiError(409, 'RSR_API_CONFLICT', 'no policy file is configured (policy.file): nothing to reload');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      deps.log.warn({ file, err: (err as Error).message }, `policy reload: cannot read ${file}`);
      throw new ApiError(409, 'RSR_API_CONFLICT', `cannot read the policy file ${file}`);
    }
    const result = deps.app.engine.reloadPolicy(text);
    if (!result) throw new ApiError(409, 'RSR_API_CONFLICT', 'this engine runs without a policy');
    const audit = deps.app.container.get(AuditLog);
    const clock = deps.app.container.get<Clock>(TOKENS.clock);
    const worker = deps.app.container.get<string>(TOKENS.workerName);
    if (!result.ok) {
      await audit.write({
        at: isoNow(clock.now()), type: 'decision', incidentId: POLICY_TRAIL, worker,
        message: `policy reload by ${principal!.name} refused, keeping ${result.current}: ${result.error.message}`,
      });
      throw result.error;
    }
    await audit.write({
      at: isoNow(clock.now()), type: 'decision', incidentId: POLICY_TRAIL, worker,
      message: `policy reloaded by ${principal!.name}: ${result.changed ? `now ${result.policy.version} (was ${result.previous})` : `unchanged (${result.previous})`}`,
      details: { by: principal!.name, version: result.policy.version, previous: result.previous },
    });
    return { status: 200, body: { version: result.policy.version, previous: result.previous, changed: result.changed } };
  },
});

