/**
 * sla-pack — the built-in service levels: platinum, gold, silver, bronze, best-effort.
 *
 * Loaded like an operator's plugin (from the install's `plugins/`), checked by the same SLA codec, listed by
 * `resurrect validate plugins`. A policy rule names the tier of each recovery; docs/writing-slas.md says what
 * each field drives (priority, slots, deadline, ladder) and how to write your own tier.
 *
 * | tier        | deadline | priority | attempts, backoff     | ladder (budgets in s)                                    |
 * |-------------|----------|----------|-----------------------|----------------------------------------------------------|
 * | platinum    | 300 s    | 1        | 6, 2 s exponential    | restart 60 → live-migrate 90 → evacuate 120 → page 30    |
 * | gold        | 900 s    | 2        | 5, 5 s exponential    | restart 120 → live-migrate 240 → evacuate 420 → page 120 |
 * | silver      | 1800 s   | 4        | 4, 10 s exponential   | restart 300 → evacuate 1200 → notify 300 (warning)       |
 * | bronze      | 7200 s   | 6        | 3, 30 s exponential   | restart 1800 → evacuate 4800 → notify 600 (warning)      |
 * | best-effort | none     | 9        | 2, 60 s fixed         | notify 3600 (info)                                       |
 *
 * Each ladder's budgets add up to exactly its deadline, so the last rung starts before the RTO runs out.
 */
import { defineSla, definePlugin } from '../../src/plugins/api';

/** Every built-in workflow, child workflows included (a child runs under its parent's SLA). */
const EVERY_WORKFLOW = ['restart-in-place', 'live-migrate-first', 'live-migrate-instance', 'fence-then-evacuate', 'evacuate-instance', 'notify-only'];
/** No live migration: it is the most network-hungry action, kept for the top tiers. */
const NO_LIVE_MIGRATION = ['restart-in-place', 'fence-then-evacuate', 'evacuate-instance', 'notify-only'];

export const platinum = defineSla({
  name: 'platinum',
  description: 'Critical services: recovered within 5 minutes, first in every queue, a human paged before the deadline',
  deadlineSeconds: 300,
  priority: 1,
  retry: { attempts: 6, backoffMs: 2_000, exponential: true },
  workflows: { allowed: EVERY_WORKFLOW, preferred: ['live-migrate-first', 'fence-then-evacuate', 'restart-in-place'] },
  escalation: [
    { action: 'restart-in-place', budgetSeconds: 60 },
    { action: 'live-migrate', budgetSeconds: 90 },
    { action: 'evacuate', budgetSeconds: 120, notify: 'warning' },
    { action: 'page', budgetSeconds: 30, notify: 'critical' },
  ],
});

export const gold = defineSla({
  name: 'gold',
  description: 'Production services: recovered within 15 minutes, a human paged if the ladder runs out',
  deadlineSeconds: 900,
  priority: 2,
  retry: { attempts: 5, backoffMs: 5_000, exponential: true },
  workflows: { allowed: EVERY_WORKFLOW, preferred: ['live-migrate-first', 'fence-then-evacuate', 'restart-in-place'] },
  escalation: [
    { action: 'restart-in-place', budgetSeconds: 120 },
    { action: 'live-migrate', budgetSeconds: 240 },
    { action: 'evacuate', budgetSeconds: 420 },
    { action: 'page', budgetSeconds: 120, notify: 'critical' },
  ],
});

export const silver = defineSla({
  name: 'silver',
  description: 'Standard services: recovered within 30 minutes without live migration; the team is notified, not paged',
  deadlineSeconds: 1_800,
  priority: 4,
  retry: { attempts: 4, backoffMs: 10_000, exponential: true },
  workflows: { allowed: NO_LIVE_MIGRATION, preferred: ['fence-then-evacuate', 'restart-in-place'] },
  escalation: [
    { action: 'restart-in-place', budgetSeconds: 300 },
    { action: 'evacuate', budgetSeconds: 1_200 },
    { action: 'notify', budgetSeconds: 300, notify: 'warning' },
  ],
});

export const bronze = defineSla({
  name: 'bronze',
  description: 'Batch and development: recovered within 2 hours, after the higher tiers; the team is notified',
  deadlineSeconds: 7_200,
  priority: 6,
  retry: { attempts: 3, backoffMs: 30_000, exponential: true },
  workflows: { allowed: NO_LIVE_MIGRATION, preferred: ['restart-in-place', 'fence-then-evacuate'] },
  escalation: [
    { action: 'restart-in-place', budgetSeconds: 1_800 },
    { action: 'evacuate', budgetSeconds: 4_800 },
    { action: 'notify', budgetSeconds: 600, notify: 'warning' },
  ],
});

export const bestEffort = defineSla({
  name: 'best-effort',
  description: 'No recovery time objective: restarted in place when capacity allows, never pages; the team is told',
  deadlineSeconds: null,
  priority: 9,
  retry: { attempts: 2, backoffMs: 60_000, exponential: false },
  workflows: { allowed: ['restart-in-place', 'notify-only'], preferred: ['restart-in-place'] },
  escalation: [{ action: 'notify', budgetSeconds: 3_600, notify: 'info' }],
});

export default definePlugin({
  name: 'sla-pack',
  description: 'The built-in service levels: platinum, gold, silver, bronze, best-effort',
  slas: [platinum, gold, silver, bronze, bestEffort],
});
