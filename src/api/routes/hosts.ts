/** Operator actions on a compute host: bring one that Resurrect fenced back into service. */
import * as t from 'io-ts';
import { HostName } from '../../domain';
import { Comment, ReportResult } from '../codecs';
import { relocate } from '../http-errors';
import { defineRoute } from '../route';

const HostParams = t.type({ host: HostName }, 'HostParams');

export const HostReturnBody = t.partial({
  /** false: the compute service stays disabled at the end (with a reason naming who returned it). Default: the host's policy params, else true. */
  reenable: t.boolean,
  comment: Comment,
}, 'HostReturnBody');

export const returnHost = defineRoute({
  method: 'POST',
  url: '/api/v1/hosts/:host/return',
  summary: 'Return a fenced host to service',
  description: 'Opens an incident of kind `host-return` running the `return-to-service` workflow: power the host on through its fencing '
    + 'levels, lift its forced_down once Nova allows it (Nova refuses with a 400 until the restarted nova-compute has completed the host\'s '
    + 'evacuations; the workflow asks again), wait for a heartbeat newer than the power-on, then enable the compute service, or keep it '
    + 'disabled with `reenable: false` (default: the `reenable` param of the policy rule for the host\'s failures, else true). '
    + 'Recorded in the audit trail with the token name as `by`, and `source` = `api:<token name>`. '
    + 'A request while a return of the host is under way joins it (200).',
  tags: ['hosts'],
  access: 'operator',
  mutates: true,
  input: { params: HostParams, body: HostReturnBody },
  response: { codec: ReportResult, statuses: { 201: 'the return was opened', 200: 'a return of this host was under way: the request joined it' } },
  errors: {
    409: 'RSR_SUBJECT_BUSY: an incident about the host is still open (its fence and evacuations run); '
      + 'RSR_NOTHING_TO_RETURN: Nova does not have the host\'s service forced down (never fenced, or already returned: a failed return is resumed with retry)',
  },
  async handler({ params, body, principal, deps }) {
    const by = principal!.name;
    try {
      const result = await deps.app.engine.returnHost(params.host, {
        by, source: `api:${by}`, ...(body.reenable !== undefined ? { reenable: body.reenable } : {}), ...(body.comment ? { comment: body.comment } : {}),
      });
      return { status: result.created ? 201 : 200, body: { incident: result.incident, created: result.created } };
    } catch (err) {
      throw relocate(err, (path) => (path === 'host' ? 'params.host' : `body.${path}`));
    }
  },
});
