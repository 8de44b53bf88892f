/**
 * Alpaca's `trade_updates` stream (docs/execution.md#the-alpaca-connector): one WebSocket that is
 * opened, authenticated (`auth`) and subscribed (`listen`), whose order updates go to the
 * listener as sluice Orders (the same mapping as the REST answers, alpaca-wire.ts). Anything that
 * ends a connection (a close, an error, an unauthorized answer, a missing pong, a handshake that
 * does not finish) is reported as `connected: false` with a reason and retried with capped,
 * jittered backoff, authenticating again each time; `stop()` ends it for good. Updates sent while
 * the stream was down are lost: the listener polls meanwhile and once more after each reconnect.
 * The keys are sent in the auth message only and are removed from every reason and log line.
 */
import WebSocket from 'ws';
import type { RawData } from 'ws';
import { nextDelay, type BackoffOptions } from '../domain/backoff.js';
import type { OrderStreamListener } from './connector.js';
import { authMessage, LISTEN_MESSAGE, parseStreamFrame, type StreamMessage } from './alpaca-wire.js';

/** What the stream logs; pino's Logger is one. */
export interface StreamLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface StreamTiming {
  /** Reconnect delays: full jitter below base × 2^(attempt-1), never above cap. */
  backoff: BackoffOptions;
  /** A ping this often once listening… */
  ping_interval_ms: number;
  /** …and a connection whose pong does not come back within this is dropped: a half-open socket never closes by itself. */
  pong_timeout_ms: number;
  /** From opening the socket to the `listening` acknowledgement. */
  handshake_timeout_ms: number;
  /** A connection that stayed up this long starts the backoff over; a flapping server keeps climbing it. */
  stable_ms: number;
}

export const STREAM_TIMING: StreamTiming = {
  backoff: { base_ms: 500, cap_ms: 30_000 },
  ping_interval_ms: 20_000,
  pong_timeout_ms: 10_000,
  handshake_timeout_ms: 10_000,
  stable_ms: 10_000,
};

export interface AlpacaStreamOptions {
  /** The connector's name, in every log line. */
  name: string;
  url: string;
  key_id: string;
  secret_key: string;
  logger: StreamLogger;
  timing: StreamTiming;
  random: () => number;
}

export interface AlpacaStream {
  /** Closes the socket and cancels every timer; nothing is reported or reconnected afterwards. */
  stop(): void;
}

export const SILENT_LOGGER: StreamLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export function startAlpacaStream(opts: AlpacaStreamOptions, listener: OrderStreamListener): AlpacaStream {
  const { name, logger, timing } = opts;
  const secrets = [opts.secret_key, opts.key_id].filter((s) => s !== '');
  const redact = (text: string): string => secrets.reduce((t, s) => t.split(s).join('[redacted]'), text);
  let stopped = false;
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let endCurrent: (() => void) | undefined;

  /** The listener is someone else's code: its throw must not end the stream. */
  const report = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      logger.error({ connector: name, err: redact(String(err)) }, `alpaca stream ${name}: the ${what} listener threw`);
    }
  };

  function connect(): void {
    if (stopped) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(opts.url, { handshakeTimeout: timing.handshake_timeout_ms });
    } catch (err) {
      dropped(false, `cannot open the stream: ${(err as Error).message}`);
      return;
    }
    let listening = false;
    let upSince: number | undefined;
    let reason: string | undefined;
    let pingTimer: NodeJS.Timeout | undefined;
    let pongTimer: NodeJS.Timeout | undefined;
    const clearTimers = (): void => {
      clearTimeout(handshakeTimer);
      clearInterval(pingTimer);
      clearTimeout(pongTimer);
    };
    /** Ends this connection; its `close` event reports and reconnects. The first reason wins. */
    const fail = (why: string): void => {
      reason ??= why;
      ws.terminate();
    };
    const handshakeTimer = setTimeout(() => fail(`no listening acknowledgement within ${timing.handshake_timeout_ms} ms`), timing.handshake_timeout_ms);
    endCurrent = () => {
      clearTimers();
      ws.terminate();
    };

    const onMessage = (m: StreamMessage): void => {
      switch (m.kind) {
        case 'authorized':
          ws.send(LISTEN_MESSAGE);
          return;
        case 'unauthorized':
          logger.error({ connector: name, action: m.action }, `alpaca stream ${name}: unauthorized (check key_id and secret_key); retrying with backoff`);
          fail(`unauthorized (${m.action})`);
          return;
        case 'listening':
          if (!m.trade_updates) {
            fail('the server did not grant the trade_updates stream');
            return;
          }
          if (listening) return;
          listening = true;
          upSince = Date.now();
          clearTimeout(handshakeTimer);
          pingTimer = setInterval(() => {
            if (pongTimer !== undefined || ws.readyState !== WebSocket.OPEN) return;
            ws.ping();
            pongTimer = setTimeout(() => fail(`no pong within ${timing.pong_timeout_ms} ms`), timing.pong_timeout_ms);
          }, timing.ping_interval_ms);
          logger.info({ connector: name }, `alpaca stream ${name}: listening to trade_updates`);
          report('state', () => listener.onState({ connected: true }));
          return;
        case 'trade_update':
          report('update', () => listener.onUpdate(m.order));
          return;
        case 'error':
          // The server closes the connection after it; its message is the better reason.
          reason ??= redact(`stream error: ${m.message}`);
          return;
        case 'unreadable':
          logger.warn({ connector: name, why: m.why }, `alpaca stream ${name}: skipped ${m.why}`);
          return;
        case 'ignored':
          return;
      }
    };

    ws.on('open', () => ws.send(authMessage(opts.key_id, opts.secret_key)));
    ws.on('message', (data: RawData) => {
      for (const m of parseStreamFrame(frameText(data))) {
        if (stopped) return;
        onMessage(m);
      }
    });
    ws.on('pong', () => {
      clearTimeout(pongTimer);
      pongTimer = undefined;
    });
    ws.on('error', (err: Error) => {
      reason ??= err.message;
    });
    ws.on('close', (code: number, text: Buffer) => {
      clearTimers();
      if (stopped) return;
      const said = text.toString('utf8');
      const stable = upSince !== undefined && Date.now() - upSince >= timing.stable_ms;
      dropped(stable, reason ?? `closed by the server (${code}${said === '' ? '' : `: ${said}`})`, listening);
    });
  }

  function dropped(stable: boolean, why: string, wasListening = false): void {
    endCurrent = undefined;
    if (stopped) return;
    const reasonText = redact(why);
    if (stable) attempt = 0;
    attempt += 1;
    const delay = nextDelay(attempt, timing.backoff, opts.random);
    logger.warn(
      { connector: name, reason: reasonText, attempt, retry_in_ms: delay },
      wasListening ? `alpaca stream ${name}: dropped (${reasonText}); reconnecting` : `alpaca stream ${name}: not connected (${reasonText}); retrying`,
    );
    report('state', () => listener.onState({ connected: false, reason: reasonText }));
    if (stopped) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect();
    }, delay);
  }

  connect();
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(reconnectTimer);
      reconnectTimer = undefined;
      endCurrent?.();
      endCurrent = undefined;
    },
  };
}

/** Text and binary frames alike hold UTF-8 JSON. */
function frameText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
