/** What the engine has loaded: workflows (with their statecharts), SLAs, and the plugin files it refused. */
import * as t from 'io-ts';
import { SlaCodec } from '../../plugins/sla-codec';
import { PluginErrorList, WorkflowList } from '../codecs';
import { defineRoute } from '../route';

export const listWorkflows = defineRoute({
  method: 'GET',
  url: '/api/v1/workflows',
  summary: 'The registered workflows: name, description, failure kinds handled, source file and statechart',
  tags: ['catalog'],
  access: 'viewer',
  mutates: false,
  input: {},
  response: { codec: WorkflowList, statuses: { 200: 'every registered workflow' } },
  async handler({ deps }) {
    const items = deps.app.registry.listWorkflows().map((w) => ({
      name: w.name,
      description: w.description,
      handles: [...w.handles],
      source: w.source ?? deps.app.registry.sourceOf('workflow', w.name) ?? null,
      // toJSON() is xstate v5's definition; the JSON round trip drops the functions (inline guards, actions).
      machine: JSON.parse(JSON.stringify(w.machine.toJSON())) as Record<string, unknown>,
    }));
    return { status: 200, body: { items } };
  },
});

export const listSlas = defineRoute({
  method: 'GET',
  url: '/api/v1/slas',
  summary: 'The registered service levels: deadline, priority, retries, workflows, escalation ladder',
  tags: ['catalog'],
  access: 'viewer',
  mutates: false,
  input: {},
  response: { codec: t.type({ items: t.array(SlaCodec) }, 'SlaList'), statuses: { 200: 'every registered SLA' } },
  async handler({ deps }) {
    return { status: 200, body: { items: deps.app.registry.listSlas().map((sla) => ({ ...sla })) } };
  },
});

export const pluginErrors = defineRoute({
  method: 'GET',
  url: '/api/v1/plugins/errors',
  summary: 'The plugin and workflow files refused at load, with the reason',
  description: 'Admin only: the reasons name files and paths on the server.',
  tags: ['catalog'],
  access: 'admin',
  mutates: false,
  input: {},
  response: { codec: PluginErrorList, statuses: { 200: 'every refusal (empty when all loaded)' } },
  async handler({ deps }) {
    const items = deps.app.loadReport.errors.map((e) => ({ file: e.file, reason: e.reason, code: e.code }));
    return { status: 200, body: { items } };
  },
});
