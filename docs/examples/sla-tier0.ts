/**
 * sla-tier0 — an example SLA plugin: one service level for the control-plane VMs of a site (DNS, LDAP, the
 * monitoring that watches everything else).
 *
 * Tighter than the built-in `platinum`: 3 minutes to recover, and no live migration (these VMs are small and
 * a fresh boot elsewhere is quicker than copying their memory). The ladder's second rung names a workflow
 * instead of a built-in action: fence the host and evacuate, exactly as `fence-then-evacuate` does it.
 *
 * Put this file in a directory listed in `plugins.dirs`. The relative import below works from
 * `docs/examples/`; a plugin under the install's `plugins/` directory imports `../src/plugins/api`.
 */
import { definePlugin, defineSla } from '../../src/plugins/api';

export const tier0 = defineSla({
  name: 'tier0',
  description: 'Site control plane: back within 3 minutes, a human paged for the last minute',
  // The recovery time objective, counted from the incident's creation.
  deadlineSeconds: 180,
  // Same as platinum: first in the queue. Ties go to the older incident.
  priority: 1,
  // Up to 8 runs of a failing step: 1 s, 2 s, 4 s, … between them.
  retry: { attempts: 8, backoffMs: 1_000, exponential: true },
  workflows: {
    allowed: ['restart-in-place', 'fence-then-evacuate', 'evacuate-instance', 'notify-only'],
    preferred: ['fence-then-evacuate', 'restart-in-place'],
  },
  // 30 + 90 + 60 = 180: the page goes out a minute before the deadline.
  escalation: [
    { action: 'restart-in-place', budgetSeconds: 30 },
    { action: 'fence-then-evacuate', budgetSeconds: 90, notify: 'warning' },
    { action: 'page', budgetSeconds: 60, notify: 'critical' },
  ],
});

export default definePlugin({ name: 'sla-tier0', slas: [tier0] });
