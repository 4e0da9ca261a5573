import test from 'ava';
import { isRight } from 'fp-ts/Either';
import { Keys } from '../../src/engine/keys';
import { SlaCompliance, SlaComplianceReportsCodec } from '../../src/engine/sla-compliance';
import { runCli } from '../helpers/cli';
import { useRedis } from '../helpers/redis';

const redis = useRedis(test);

const cli = (args: string[]) => runCli(args, { REDIS_URL: redis.url }, 60_000);

test('resurrect sla --json prints the compliance the engine recorded; the table shows the same; nothing recorded is not an error', async (t) => {
  const prefix = redis.newPrefix();
  const client = redis.connection();
  const compliance = new SlaCompliance(client, new Keys(prefix));
  const multi = client.multi();
  const base = { workflow: 'restart-in-place', breached: false } as const;
  compliance.record(multi, { ...base, recoveryId: 'rec-1', sla: 'platinum', outcome: 'recovered', seconds: 120, deadlineSeconds: 300 });
  compliance.record(multi, { ...base, recoveryId: 'rec-2', sla: 'platinum', outcome: 'recovered', seconds: 420, deadlineSeconds: 300 });
  compliance.record(multi, { ...base, recoveryId: 'rec-3', sla: 'platinum', outcome: 'escalated', seconds: 300, deadlineSeconds: 300 });
  compliance.record(multi, { ...base, recoveryId: 'rec-4', sla: 'best-effort', outcome: 'recovered', seconds: 45.5, deadlineSeconds: null });
  await multi.exec();

  const json = await cli(['sla', '--json', '--prefix', prefix]);
  t.is(json.code, 0, json.stderr);
  const reports = JSON.parse(json.stdout) as unknown;
  t.true(isRight(SlaComplianceReportsCodec.decode(reports)), json.stdout);
  t.like(reports, [
    { sla: 'best-effort', total: 1, recovered: 1, compliance: null, p50Seconds: 45.5 },
    { sla: 'platinum', total: 3, recovered: 2, escalated: 1, withDeadline: 3, withinDeadline: 1, breached: 1, compliance: 1 / 3, p50Seconds: 120, maxSeconds: 420 },
  ]);

  const table = await cli(['sla', '--prefix', prefix]);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /│ platinum\s+│ 3\s+│ 2\s+│ 1 \/ 3\s+│ 1\s+│ 0\s+│ 1\s+│ 33\.3 %\s+│ 120\.0\s+│ 420\.0\s+│ 420\.0\s+│/);

  const empty = await cli(['sla', '--json', '--prefix', redis.newPrefix()]);
  t.is(empty.code, 0, empty.stderr);
  t.deepEqual(JSON.parse(empty.stdout), []);
  t.regex((await cli(['sla', '--prefix', redis.newPrefix()])).stdout, /no SLA compliance recorded yet/);
});
