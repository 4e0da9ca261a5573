/**
 * What the lab tests do to the real cloud behind Resurrect's back, as an admin with Nova's and Glance's own
 * REST APIs and the hosts' BMCs: boot and delete servers, pull a host's power, freeze its nova-compute, bring
 * it back the way an operator would, and read Nova's own records (instance actions, migrations) to check what
 * Resurrect did. Nothing here goes through the code under test.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { call, login, type Session } from './rest';
import { readLab, type LabHost, type LabState } from './lab';

const run = promisify(execFile);

/** The microversion the lab's admin calls use: 2.74 boots on a named host without pinning its zone. */
const ADMIN_MICROVERSION = '2.74';

export interface NovaServer {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly host: string;
  readonly taskState: string | null;
  /** Nova's fault of a server in ERROR: code and message. */
  readonly fault?: string;
}

export interface InstanceAction {
  readonly action: string;
  readonly requestId: string;
  readonly startTime: string;
}

export interface NovaMigration {
  readonly id: number;
  readonly type: string;
  readonly status: string;
  readonly source: string;
  readonly dest: string;
  readonly createdAt: string;
}

export interface BootSpec {
  readonly name: string;
  readonly host: string;
  readonly flavorId: string;
  readonly imageId: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export class LabCloud {
  #session: Session | undefined;

  constructor(readonly lab: LabState) {}

  static open(): LabCloud {
    const lab = readLab();
    if (!lab) throw new Error('no lab is running: start it with `npm run lab:up` (docs/lab.md)');
    return new LabCloud(lab);
  }

  host(name: string): LabHost {
    const host = this.lab.hosts.find((h) => h.name === name);
    if (!host) throw new Error(`the lab has no host ${name} (it has ${this.lab.hosts.map((h) => h.name).join(', ')})`);
    return host;
  }

  async #token(): Promise<Session> {
    this.#session ??= await login(this.lab.authUrl, this.lab.admin.username, this.lab.admin.password, this.lab.admin.projectName);
    return this.#session;
  }

  /** A Nova call as admin; `ok` lists the statuses that are not failures (default 2xx). */
  async nova(method: string, path: string, body?: unknown, options: { microversion?: string; ok?: readonly number[] } = {}) {
    const { token } = await this.#token();
    return call({
      service: 'nova', method, url: `${this.lab.endpoints.nova}${path}`, token, body, ok: options.ok,
      headers: { 'OpenStack-API-Version': `compute ${options.microversion ?? ADMIN_MICROVERSION}` },
    });
  }

  async glance(method: string, path: string, body?: unknown, options: { raw?: Buffer; contentType?: string; ok?: readonly number[] } = {}) {
    const { token } = await this.#token();
    return call({
      service: 'glance', method, url: `${this.lab.endpoints.glance}${path}`, token, body, raw: options.raw, ok: options.ok,
      headers: options.contentType ? { 'Content-Type': options.contentType } : {},
    });
  }

  // ---- servers ----------------------------------------------------------------------------------------

  async servers(): Promise<NovaServer[]> {
    const answer = await this.nova('GET', '/servers/detail?all_tenants=1&limit=1000');
    return (answer.json.servers as Record<string, unknown>[]).map(toServer);
  }

  async server(id: string): Promise<NovaServer> {
    return toServer((await this.nova('GET', `/servers/${id}`)).json.server);
  }

  async boot(spec: BootSpec): Promise<string> {
    const answer = await this.nova('POST', '/servers', {
      server: {
        name: spec.name, flavorRef: spec.flavorId, imageRef: spec.imageId, networks: 'none', host: spec.host,
        ...(spec.metadata ? { metadata: spec.metadata } : {}),
      },
    });
    return String(answer.json.server.id);
  }

  /** Boots every spec at once and waits until each is ACTIVE on its host. */
  async bootAll(specs: readonly BootSpec[], timeoutMs = 60_000): Promise<string[]> {
    const ids = await Promise.all(specs.map((spec) => this.boot(spec)));
    await this.until(async () => {
      const states = await Promise.all(ids.map((id) => this.server(id)));
      const failed = states.find((s) => s.status === 'ERROR');
      if (failed) throw new Error(`server ${failed.name} (${failed.id}) went to ERROR while booting${failed.fault ? `: ${failed.fault}` : ''}`);
      return states.every((s) => s.status === 'ACTIVE' && s.taskState === null);
    }, `${ids.length} servers ACTIVE`, timeoutMs);
    return ids;
  }

  /** Deletes every server of the lab and waits until Nova has none left. */
  async deleteAllServers(timeoutMs = 90_000): Promise<void> {
    const servers = await this.servers();
    for (const server of servers) {
      // A server stuck in a task (a stop cast to a dead host) must be reset before Nova deletes it.
      if (server.taskState !== null) await this.nova('POST', `/servers/${server.id}/action`, { 'os-resetState': { state: 'error' } }, { ok: [202, 404] });
      await this.nova('DELETE', `/servers/${server.id}`, undefined, { ok: [204, 404] });
    }
    await this.until(async () => (await this.servers()).length === 0, 'every server deleted', timeoutMs);
    // A compute frees a deleted instance's usage a moment after Nova stops listing it: the next test reads
    // hypervisor usage, so wait until no hypervisor counts an instance any more.
    await this.until(async () => {
      const answer = await this.nova('GET', '/os-hypervisors/detail', undefined, { microversion: '2.87' });
      return (answer.json.hypervisors as { vcpus_used: number }[]).every((h) => h.vcpus_used === 0);
    }, 'every hypervisor idle', timeoutMs);
  }

  async instanceActions(id: string): Promise<InstanceAction[]> {
    const answer = await this.nova('GET', `/servers/${id}/os-instance-actions`);
    return (answer.json.instanceActions as Record<string, string>[]).map((a) => ({ action: a.action!, requestId: a.request_id!, startTime: a.start_time! }));
  }

  async migrations(id: string): Promise<NovaMigration[]> {
    const answer = await this.nova('GET', `/os-migrations?instance_uuid=${id}`, undefined, { microversion: '2.80' });
    return (answer.json.migrations as Record<string, unknown>[]).map((m) => ({
      id: Number(m.id), type: String(m.migration_type), status: String(m.status), source: String(m.source_compute),
      dest: String(m.dest_compute), createdAt: String(m.created_at),
    }));
  }

  // ---- flavors and images -----------------------------------------------------------------------------

  /** The flavor of that name, created with these sizes and extra specs when missing. */
  async flavor(name: string, vcpus: number, ramMb: number, extraSpecs: Readonly<Record<string, string>> = {}): Promise<string> {
    const listed = await this.nova('GET', '/flavors/detail?is_public=None');
    const found = (listed.json.flavors as { id: string; name: string }[]).find((f) => f.name === name);
    if (found) return found.id;
    const created = await this.nova('POST', '/flavors', { flavor: { name, vcpus, ram: ramMb, disk: 1 } });
    const id = String(created.json.flavor.id);
    if (Object.keys(extraSpecs).length > 0) await this.nova('POST', `/flavors/${id}/os-extra_specs`, { extra_specs: extraSpecs });
    return id;
  }

  /** A new 1 MiB raw image (the fake hypervisor never reads it). */
  async createImage(name: string): Promise<string> {
    const created = await this.glance('POST', '/v2/images', { name, disk_format: 'raw', container_format: 'bare', visibility: 'public' });
    const id = String(created.json.id);
    await this.glance('PUT', `/v2/images/${id}/file`, undefined, { raw: Buffer.alloc(1024 * 1024), contentType: 'application/octet-stream', ok: [204] });
    return id;
  }

  async deleteImage(id: string): Promise<void> {
    await this.glance('DELETE', `/v2/images/${id}`, undefined, { ok: [204, 404] });
  }

  async deleteImagesNamed(prefix: string): Promise<void> {
    const listed = await this.glance('GET', '/v2/images?limit=1000');
    for (const image of listed.json.images as { id: string; name: string }[]) {
      if (image.name?.startsWith(prefix)) await this.deleteImage(image.id);
    }
  }

  // ---- compute services ---------------------------------------------------------------------------------

  async service(host: string): Promise<{ id: string; status: string; state: string; forcedDown: boolean; updatedAt: string | null }> {
    const answer = await this.nova('GET', `/os-services?binary=nova-compute&host=${encodeURIComponent(host)}`, undefined, { microversion: '2.53' });
    const s = answer.json.services[0];
    if (!s) throw new Error(`Nova has no nova-compute service on ${host}`);
    return { id: String(s.id), status: s.status, state: s.state, forcedDown: Boolean(s.forced_down), updatedAt: s.updated_at ?? null };
  }

  async updateService(host: string, body: Record<string, unknown>, ok?: readonly number[]) {
    const { id } = await this.service(host);
    return this.nova('PUT', `/os-services/${id}`, body, { microversion: '2.53', ok });
  }

  // ---- power, through the host's BMC ----------------------------------------------------------------------

  async ipmi(host: string, ...args: string[]): Promise<string> {
    const { bmc } = this.host(host);
    const { stdout } = await run('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', bmc.address, '-p', String(bmc.port), '-U', bmc.username, '-E', ...args], {
      env: { ...process.env, IPMI_PASSWORD: bmc.password }, timeout: 30_000,
    });
    return stdout;
  }

  async power(host: string): Promise<'on' | 'off'> {
    return /is on/i.test(await this.ipmi(host, 'chassis', 'power', 'status')) ? 'on' : 'off';
  }

  /** Pulls the plug through the BMC: the host's nova-compute is killed at once. Returns when it reads off. */
  async powerOff(host: string): Promise<Date> {
    await this.ipmi(host, 'chassis', 'power', 'off');
    await this.until(async () => (await this.power(host)) === 'off' && this.computePid(host) === undefined, `${host} off`, 30_000);
    return new Date();
  }

  async powerOn(host: string): Promise<void> {
    if ((await this.power(host)) === 'off') await this.ipmi(host, 'chassis', 'power', 'on');
    await this.until(async () => (await this.power(host)) === 'on' && this.computePid(host) !== undefined, `${host} on`, 30_000);
  }

  /** The host's power cuts and power-ons as its simulated machine logged them (epoch ms), oldest first. */
  powerEvents(host: string): { at: number; power: 'on' | 'off' }[] {
    let text = '';
    try {
      text = readFileSync(join(this.lab.logs, `power-${host}.log`), 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').flatMap((line) => {
      const m = /^(\d+(?:\.\d+)?) (on|off):/.exec(line);
      return m ? [{ at: Math.round(Number(m[1]) * 1000), power: m[2] as 'on' | 'off' }] : [];
    });
  }

  computePid(host: string): number | undefined {
    try {
      const pid = Number(readFileSync(this.host(host).computePidFile, 'utf8').trim());
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** nova-compute hangs (SIGSTOP): no heartbeat, the host and its guests stay up, the BMC reads on. */
  freezeCompute(host: string): void {
    const pid = this.computePid(host);
    if (pid === undefined) throw new Error(`${host} has no nova-compute running`);
    process.kill(pid, 'SIGSTOP');
  }

  /** Wakes a frozen nova-compute; true if it was frozen. */
  thawCompute(host: string): boolean {
    const pid = this.computePid(host);
    if (pid === undefined || !/^State:\s+T/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) return false;
    process.kill(pid, 'SIGCONT');
    return true;
  }

  /**
   * The operator's way back for a host: thawed, powered on, its evacuated instances cleaned up by the restarted
   * nova-compute (Nova refuses to lift forced_down while `done` evacuation records remain), forced_down
   * lifted, enabled, and a heartbeat newer than all that.
   */
  async restoreHost(host: string, timeoutMs = 120_000): Promise<void> {
    const frozen = this.thawCompute(host);
    const wasOn = (await this.power(host)) === 'on' && this.computePid(host) !== undefined;
    if (wasOn && !frozen) {
      const service = await this.service(host);
      // "up" may be the stale heartbeat of the process before a short power cut, while the one started at
      // power-on is still in init_host, which puts every BUILDING instance of its host in ERROR. Its first
      // heartbeat comes after init_host: only a heartbeat dated after the last power-on proves it is done.
      const bootedAt = this.powerEvents(host).filter((e) => e.power === 'on').at(-1)?.at;
      const heardSinceBoot = bootedAt === undefined || (service.updatedAt !== null && novaTime(service.updatedAt) > bootedAt);
      if (service.state === 'up' && !service.forcedDown && service.status === 'enabled' && heardSinceBoot) return;
    }
    await this.powerOn(host);
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(1000, deadline - Date.now());
    await this.until(async () => {
      if (!(await this.service(host)).forcedDown) return true;
      return (await this.updateService(host, { forced_down: false }, [200, 400])).status === 200;
    }, `forced_down of ${host} lifted`, left());
    // Our own PUTs move updated_at too: only a later change is a heartbeat, and only a heartbeat of the restarted
    // nova-compute makes the scheduler take the host again ("has not been heard from in a while" until then).
    const mark = (await this.service(host)).updatedAt;
    await this.until(async () => {
      const fresh = await this.service(host);
      return fresh.state === 'up' && fresh.updatedAt !== mark;
    }, `a heartbeat of ${host}`, left());
    // Enabled only once Nova sees it up again: enabling a service Nova thinks down leaves the
    // COMPUTE_STATUS_DISABLED trait on its resource provider, and boots there fail until the next periodic update.
    if ((await this.service(host)).status !== 'enabled') await this.updateService(host, { status: 'enabled' });
  }

  async until(check: () => Promise<boolean>, what: string, timeoutMs: number, intervalMs = 250): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        if (await check()) return;
        last = undefined;
      } catch (err) {
        if (err instanceof Error && /went to ERROR/.test(err.message)) throw err;
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

function toServer(s: Record<string, unknown>): NovaServer {
  return {
    id: String(s.id), name: String(s.name), status: String(s.status),
    host: String(s['OS-EXT-SRV-ATTR:host'] ?? ''), taskState: (s['OS-EXT-STS:task_state'] as string | null) ?? null,
    ...(isFault(s.fault) ? { fault: `${s.fault.code ?? ''} ${s.fault.message ?? ''}`.trim() } : {}),
  };
}

const isFault = (f: unknown): f is { code?: number; message?: string } => typeof f === 'object' && f !== null;

/** Nova's times are UTC without a zone (and its service times are whole seconds). */
export const novaTime = (iso: string) => Date.parse(iso.endsWith('Z') ? iso : `${iso}Z`);
