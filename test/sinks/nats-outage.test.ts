/**
 * The NATS sink while NATS is down (docs/guarantees.md#event-sinks), against a nats-server of the
 * test's own (/usr/sbin/nats-server on a free port, JetStream storing in a temp dir) that it kills
 * and starts again under a running sluice:
 * - while it is down, signals are accepted and executed, `/readyz` stays ready, the sink is the
 *   degraded component `sink:nats:<stream>` in `/admin/status`, and its lag metric grows;
 * - once it is back on the same port and store, the sink catches up from its offset: the stream
 *   holds every entry of the log exactly once, in order (the outage's own `degraded.entered`
 *   included), the lag is 0 and the degraded component is gone.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { OwnNatsServer, deleteStream, freePort, readStream, uniqueStream } from '../helpers/nats.js';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { eventsAfter, opsConfig, readJson, sendFinal } from '../ops/helpers.js';
import { expectExactly, natsSink, sinkLag } from './helpers.js';

const missing = OwnNatsServer.available() ? null : 'no /usr/sbin/nats-server (apt-get install nats-server; .ci/run does)';

let server: OwnNatsServer | null = null;
let sluice: TestServer | null = null;
afterEach(async () => {
  await sluice?.close();
  sluice = null;
  await server?.kill();
  server = null;
});

interface Status {
  status: string;
  degraded: Array<{ component: string; reason: string }>;
}

describe.skipIf(missing !== null)(`the NATS sink through a NATS outage${missing === null ? '' : ` (skipped: ${missing})`}`, () => {
  test('down: signals still execute, the sink is degraded and its lag grows; back: it catches up, exactly once, in order', { timeout: 90_000 }, async () => {
    const nats = new OwnNatsServer(await freePort(), tempDir('sluice-nats-store-'));
    server = nats;
    await nats.start();
    const { stream, prefix } = uniqueStream();
    const component = `sink:nats:${stream}`;
    const s = await startTestServer({ config: opsConfig({ sinks: [natsSink(stream, prefix, { url: nats.url, timeout_ms: 1_000 })] }) });
    sluice = s;
    const lag = () => sinkLag(s.url, `nats:${stream}`);
    const status = async () => readJson<Status>(await s.admin('/status'));

    expect((await sendFinal(s, { instrument: 'UP1' })).status).toBe('executed');
    await eventually(async () => ((await lag()) === 0 ? true : undefined), 20_000, 'the sink caught up before the outage');

    await nats.kill();
    // Down: signals are accepted and executed as before.
    for (let i = 0; i < 5; i += 1) expect((await sendFinal(s, { instrument: `DOWN${i}` })).status).toBe('executed');
    const degraded = await eventually(async () => (await status()).degraded.find((d) => d.component === component), 20_000, 'the sink degraded');
    expect(degraded.reason).toMatch(new RegExp(`^nats stream ${stream}: `));
    expect((await status()).status).toBe('degraded');
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
    const lagDown = (await lag()) ?? 0;
    expect(lagDown).toBeGreaterThanOrEqual(5 * 3);
    expect((await sendFinal(s, { instrument: 'DOWN5' })).status).toBe('executed');
    expect(await lag()).toBeGreaterThan(lagDown);

    // Down for a while: the sink keeps retrying with backoff, and never gives up.
    const failures = () => s.logs.filter((l) => l.includes(`"msg":"sink nats:${stream} delivery failed; retrying"`)).length;
    await eventually(async () => (failures() >= 5 ? true : undefined), 20_000, 'five failed deliveries');

    // Back on the same port and store: it catches up from its offset.
    await nats.start();
    await eventually(async () => ((await lag()) === 0 && !(await status()).degraded.some((d) => d.component === component) ? true : undefined), 30_000, 'caught up, not degraded');
    const events = await eventsAfter(s, 0);
    expect(events.filter((e) => e.type === 'degraded.entered' && e.data.component === component)).toHaveLength(1);
    const exited = await eventually(async () => {
      const now = await eventsAfter(s, 0);
      return now.some((e) => e.type === 'degraded.exited' && e.data.component === component) ? now : undefined;
    }, 10_000, 'degraded.exited in the log');
    await eventually(async () => ((await lag()) === 0 ? true : undefined), 10_000, 'degraded.exited published too');
    const messages = await readStream(nats.url, stream);
    expect(messages).toHaveLength(exited.length);
    expectExactly(messages, exited, prefix);
    await deleteStream(nats.url, stream);
  });

  test('NATS never reachable: signals execute, and the sink is degraded saying why', async () => {
    const port = await freePort();
    const s = await startTestServer({ config: opsConfig({ sinks: [natsSink('NEVER', 'never', { url: `nats://127.0.0.1:${port}`, timeout_ms: 300 })] }) });
    sluice = s;
    expect((await sendFinal(s)).status).toBe('executed');
    const degraded = await eventually(async () => (await readJson<Status>(await s.admin('/status'))).degraded.find((d) => d.component === 'sink:nats:NEVER'), 20_000, 'the sink degraded');
    expect(degraded.reason).toMatch(/^nats stream NEVER: deliveries failing since \S+: not connected to NATS \(.+\)$/);
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
    expect(await sinkLag(s.url, 'nats:NEVER')).toBeGreaterThan(0);
  });

  test('shutdown while a publish waits for an unreachable NATS does not wait it out', async () => {
    // Ten minutes for the publish and for the shutdown: only a sink that lets go ends this test in time.
    const port = await freePort();
    const s = await startTestServer({
      config: opsConfig({ server: { shutdown_timeout_seconds: 600 }, sinks: [natsSink('HANG', 'hang', { url: `nats://127.0.0.1:${port}`, timeout_ms: 600_000 })] }),
    });
    expect((await sendFinal(s)).status).toBe('executed');
    await s.close();
    expect(s.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });
});
