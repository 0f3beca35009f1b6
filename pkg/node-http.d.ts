// Types of the Node `http` adapter shared by usertrail/pipeline,
// usertrail/collector and usertrail/middleware.

/** What `toNodeListener` passes a handler besides the request. */
export interface NodeRequestInfo {
  /** The socket's remote address (the session middleware's `clientIp` can read it). */
  remoteAddress: string | undefined;
  /** Whether the server listens on a loopback address only (the dashboard then needs no `auth`). */
  loopbackOnly: boolean;
}

/** The parts of Node's `IncomingMessage` the adapter reads (Node's own type fits). */
export interface NodeIncomingMessage {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string; server?: { address(): unknown } } | null;
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  pause(): unknown;
}

/** The parts of Node's `ServerResponse` the adapter writes (Node's own type fits). */
export interface NodeServerResponse {
  readonly headersSent: boolean;
  writeHead(status: number, headers?: Record<string, string | string[]>): unknown;
  write(chunk: Uint8Array): boolean;
  end(chunk?: string | Uint8Array): unknown;
  once(event: 'drain', listener: () => void): unknown;
  destroy(error?: Error): unknown;
}

/**
 * Serves a fetch handler `(request, info) => Response` (a collector, a partition handler, a session-wrapped
 * handler) from Node's `http`:
 *
 * ```js
 * import { createServer } from 'node:http';
 * createServer(toNodeListener(partitionHandler(part))).listen(3201);
 * ```
 *
 * The request body streams in and the response streams out. A handler that throws answers 500
 * `{ error: { code, message } }`.
 */
export declare function toNodeListener(
  handler: (request: Request, info: NodeRequestInfo) => Response | Promise<Response>,
): (req: NodeIncomingMessage, res: NodeServerResponse) => Promise<void>;
