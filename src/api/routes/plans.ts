/** Dry runs: what a failure of these hosts would do now. Changes nothing. */
import { planForApp } from '../../plan/plan-for-app';
import { RecoveryPlanCodec } from '../../plan/plan-codec';
import { PlanBody } from '../codecs';
import { relocate } from '../http-errors';
import { defineRoute } from '../route';

export const createPlan = defineRoute({
  method: 'POST',
  url: '/api/v1/plans',
  summary: 'Dry run: per VM its SLA, workflow, order, target host and predicted finish if these hosts failed now',
  description: 'Reads the cloud and the running policy; writes nothing (what `resurrect plan` prints). Unknown hosts are refused with their path.',
  tags: ['plans'],
  access: 'viewer',
  mutates: false,
  input: { body: PlanBody },
  response: { codec: RecoveryPlanCodec, statuses: { 200: 'the plan' } },
  async handler({ body, deps }) {
    try {
      const plan = await planForApp(deps.app, deps.config, { failedHosts: body.failedHosts, ...(body.kind ? { kind: body.kind } : {}) });
      return { status: 200, body: plan };
    } catch (err) {
      throw relocate(err, (path) => `body.${path}`);
    }
  },
});
