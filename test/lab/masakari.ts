/**
 * Masakari in the lab, as a host monitor and an operator use it: send a COMPUTE_HOST notification, read its
 * status, put a host back out of maintenance; and restart masakari-engine with another
 * `wait_period_after_service_update` (the sleep after it disables a failed host's nova-compute), which it only
 * reads at start. The engine is stopped by its recorded pid (command line checked) and the new one recorded.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labPaths, readPids, writeJson, isRunning, type LabState } from './lab';
import { startDaemon } from './processes';
import { call, login } from './rest';

const ENGINE = 'masakari-engine';

export class LabMasakari {
  constructor(private readonly lab: LabState) {
    if (!lab.masakari || !lab.endpoints.masakari) throw new Error('this lab runs without Masakari (RESURRECT_LAB_MASAKARI=0)');
  }

  async #base(): Promise<{ url: string; token: string }> {
    const { token, projectId } = await login(this.lab.authUrl, this.lab.admin.username, this.lab.admin.password, this.lab.admin.projectName);
    return { url: `${this.lab.endpoints.masakari}/${projectId}`, token };
  }

  /** What masakari-hostmonitor sends when a host stops answering. */
  async notifyHostDown(host: string): Promise<string> {
    const { url, token } = await this.#base();
    const answer = await call({
      service: 'masakari', url: `${url}/notifications`, token,
      body: { notification: { type: 'COMPUTE_HOST', hostname: host, generated_time: new Date().toISOString(), payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' } } },
    });
    return String(answer.json.notification.notification_uuid);
  }

  async notificationStatus(id: string): Promise<string> {
    const { url, token } = await this.#base();
    return String((await call({ service: 'masakari', url: `${url}/notifications/${id}`, token })).json.notification.status);
  }

  /** Masakari leaves a host it recovered `on_maintenance`; a new notification for it would be ignored. */
  async endMaintenance(host: string): Promise<void> {
    const { url, token } = await this.#base();
    const segment = this.lab.masakari!.segmentId;
    const hosts = (await call({ service: 'masakari', url: `${url}/segments/${segment}/hosts`, token })).json.hosts as { uuid: string; name: string; on_maintenance: boolean }[];
    const found = hosts.find((h) => h.name === host);
    if (found?.on_maintenance) {
      await call({ service: 'masakari', method: 'PUT', url: `${url}/segments/${segment}/hosts/${found.uuid}`, token, body: { host: { on_maintenance: false } } });
    }
  }

  /** The sleep masakari-engine is running with now. */
  wait(): number {
    const match = /^wait_period_after_service_update\s*=\s*(\d+)/m.exec(readFileSync(this.#conf(), 'utf8'));
    return match ? Number(match[1]) : 180;
  }

  /** Restarts masakari-engine with `seconds` of sleep after disabling a host (no-op if it already has it). */
  async setWait(seconds: number): Promise<void> {
    if (this.wait() === seconds) return;
    const conf = this.#conf();
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^wait_period_after_service_update\s*=.*$/m, `wait_period_after_service_update = ${seconds}`));
    const dir = this.lab.dir;
    const pids = readPids(dir);
    const old = pids?.processes.find((p) => p.name === ENGINE);
    if (!pids || !old) throw new Error(`no ${ENGINE} recorded in ${labPaths(dir).pids}`);
    if (isRunning(old)) {
      process.kill(old.pid, 'SIGTERM');
      for (let i = 0; i < 120 && isRunning(old); i++) await new Promise((r) => setTimeout(r, 250));
      if (isRunning(old)) process.kill(old.pid, 'SIGKILL');
    }
    writeJson(labPaths(dir).pids, { ...pids, processes: pids.processes.filter((p) => p.pid !== old.pid) });
    const launcher = join(labPaths(dir).bin, 'masakari-launch');
    startDaemon(dir, {
      name: ENGINE, command: '/usr/bin/python3',
      args: [launcher, 'engine', '--config-file', conf, '--log-file', join(this.lab.logs, `${ENGINE}.log`)],
      log: join(this.lab.logs, `${ENGINE}.out`), match: `masakari-launch engine --config-file ${conf}`,
    });
    // The engine takes notifications from RabbitMQ once it has started: give it the time it needs to join.
    await new Promise((r) => setTimeout(r, 8000));
  }

  #conf(): string {
    return join(labPaths(this.lab.dir).etc, 'masakari', 'masakari.conf');
  }
}
