/**
 * The route table: every route the server registers and the OpenAPI document lists, in one array. A route
 * added here is served, documented, and covered by the auth, fuzz and OpenAPI tests (they iterate over it).
 */
import type { AnyRoute } from '../route';
import { breakerApprove, breakerClose, breakerStatus } from './breaker';
import { listSlas, listWorkflows, pluginErrors } from './catalog';
import { healthz, metrics, openapi, readyz } from './health';
import { events } from './events';
import { returnHost } from './hosts';
import {
  cancelRecovery, decideRecovery, getIncident, getRecovery, listIncidents, listRecoveries, reportIncident, retryRecovery,
} from './incidents';
import { createPlan } from './plans';
import { getPolicy, reloadPolicy } from './policy';

export const API_PREFIX = '/api/v1';

export const ROUTES: readonly AnyRoute[] = [
  healthz, readyz, openapi, metrics,
  reportIncident, listIncidents, getIncident,
  listRecoveries, getRecovery, decideRecovery, cancelRecovery, retryRecovery,
  returnHost,
  events,
  breakerStatus, breakerApprove, breakerClose,
  listWorkflows, listSlas, pluginErrors,
  getPolicy, reloadPolicy,
  createPlan,
] as AnyRoute[];
