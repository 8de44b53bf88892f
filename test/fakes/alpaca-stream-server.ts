/**
 * The fake Alpaca's `trade_updates` stream: a real WebSocket on the fake's HTTP server at
 * `/stream`, with the handshake Alpaca's streaming page documents (`auth` — or the older
 * `authenticate` form — answered on the `authorization` stream, then `listen` answered on
 * `listening`) and the book's trade updates sent to every listening connection, in binary frames
 * as the paper stream does (or text, as the live one). Test controls drop, refuse, pause or mute
 * it; what it sees is counted so that a test can tell that nobody reconnected.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { TradeUpdate } from './alpaca-book.js';

export type StreamFrames = 'binary' | 'text';

export interface StreamStats {
  /** Upgrade requests to /stream, refused ones included. */
  connections: number;
  /** Connections open now. */
  open: number;
  /** Successful authentications. */
  authorized: number;
  /** Connections listening to trade_updates now. */
  listening: number;
  /** Updates sent (one per listening connection). */
  sent: number;
}

export interface StreamServer {
  publish(update: TradeUpdate): void;
  /** Terminates every stream connection, as a network drop would. */
  drop(): void;
  /** `connection`: upgrades are answered 503; `auth`: authentication is answered unauthorized. */
  refuse(on: boolean, how?: 'connection' | 'auth'): void;
  /** Updates published while paused are not sent to anyone: lost, as in a real drop. */
  pause(on: boolean): void;
  /** A dead peer: no pongs, no updates (lost), the connection stays open. */
  mute(on: boolean): void;
  frames(kind: StreamFrames): void;
  stats(): StreamStats;
  close(): void;
}

interface Client {
  ws: WebSocket;
  authorized: boolean;
  listening: boolean;
}

export function createStreamServer(
  server: Server,
  opts: { key_id: string; secret_key: string; frames: StreamFrames; onViolation: (message: string) => void },
): StreamServer {
  const wss = new WebSocketServer({ noServer: true, autoPong: false });
  const clients = new Set<Client>();
  let refused: 'connection' | 'auth' | undefined;
  let paused = false;
  let muted = false;
  let frames = opts.frames;
  const stats = { connections: 0, authorized: 0, sent: 0 };

  const send = (c: Client, message: unknown): void => {
    const text = JSON.stringify(message);
    c.ws.send(frames === 'binary' ? Buffer.from(text, 'utf8') : text, { binary: frames === 'binary' });
  };

  function onMessage(c: Client, data: RawData): void {
    let m: unknown;
    try {
      m = JSON.parse(frameText(data)) as unknown;
    } catch {
      opts.onViolation('a stream message that is not JSON');
      return;
    }
    const msg = typeof m === 'object' && m !== null ? (m as Record<string, unknown>) : {};
    const data_ = typeof msg['data'] === 'object' && msg['data'] !== null ? (msg['data'] as Record<string, unknown>) : {};
    if (msg['action'] === 'auth' || msg['action'] === 'authenticate') {
      // The documented form is { action: auth, key, secret }; Alpaca still takes the older one.
      const key = msg['action'] === 'auth' ? msg['key'] : data_['key_id'];
      const secret = msg['action'] === 'auth' ? msg['secret'] : data_['secret_key'];
      c.authorized = refused !== 'auth' && key === opts.key_id && secret === opts.secret_key;
      if (c.authorized) stats.authorized += 1;
      send(c, { stream: 'authorization', data: { status: c.authorized ? 'authorized' : 'unauthorized', action: 'authenticate' } });
      return;
    }
    if (msg['action'] === 'listen') {
      if (!c.authorized) {
        send(c, { stream: 'authorization', data: { status: 'unauthorized', action: 'listen' } });
        return;
      }
      const asked = Array.isArray(data_['streams']) ? (data_['streams'] as unknown[]) : [];
      c.listening = asked.includes('trade_updates');
      send(c, { stream: 'listening', data: { streams: c.listening ? ['trade_updates'] : [] } });
      return;
    }
    opts.onViolation(`a stream message Alpaca does not take: ${JSON.stringify(msg).slice(0, 200)}`);
  }

  wss.on('connection', (ws: WebSocket) => {
    const c: Client = { ws, authorized: false, listening: false };
    clients.add(c);
    ws.on('message', (data: RawData) => onMessage(c, data));
    ws.on('ping', (payload: Buffer) => {
      if (!muted) ws.pong(payload);
    });
    ws.on('close', () => clients.delete(c));
    ws.on('error', () => clients.delete(c));
  });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // node:http drops its own error listener from an upgraded socket: a client killed while its
    // refusal is being written (ECONNRESET) would otherwise crash the test process.
    socket.on('error', () => undefined);
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    if (path !== '/stream') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    stats.connections += 1;
    if (refused === 'connection') {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  server.on('upgrade', onUpgrade);

  return {
    publish(update) {
      if (paused || muted) return;
      for (const c of clients) {
        if (!c.listening) continue;
        send(c, { stream: 'trade_updates', data: update });
        stats.sent += 1;
      }
    },
    drop() {
      for (const c of clients) c.ws.terminate();
    },
    refuse(on, how = 'connection') {
      refused = on ? how : undefined;
    },
    pause(on) {
      paused = on;
    },
    mute(on) {
      muted = on;
    },
    frames(kind) {
      frames = kind;
    },
    stats: () => ({
      ...stats,
      open: clients.size,
      listening: [...clients].filter((c) => c.listening).length,
    }),
    close() {
      server.off('upgrade', onUpgrade);
      for (const c of clients) c.ws.terminate();
      clients.clear();
      wss.close();
    },
  };
}

function frameText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
