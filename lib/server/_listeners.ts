/**
 * A server's listeners: one per `listen` entry (or the top-level options), TCP, Unix or
 * TLS, bound through the runtime's transport, each with its accept callback wired to
 * `_entry.ts` and, when it turns the PROXY protocol on, its PROXY stage. Apart from the
 * rest because it runs once, at start, and is all about options becoming sockets.
 * @internal
 * @module
 */

import { listenOn } from "../adapters/mod.ts";
import { ProxyStage } from "../admission/_proxy_stage.ts";
import { UnsupportedError } from "../errors.ts";
import type { ListenerOptions, ServeOptions } from "./options.ts";
import { accept, handshakeFailed } from "./_entry.ts";
import type { ServerState } from "./_state.ts";

const noop = () => {};

/** The smallest kernel listen backlog the server-wide `backlog` turns into (Node's and Deno's default). */
const MIN_KERNEL_BACKLOG = 511;

/** Binds every listener `options` asks for; on a failure closes those bound and throws. */
export function bind(s: ServerState, options: ServeOptions<unknown, unknown, unknown>): void {
  const specs = options.listen?.length ? options.listen : [options];
  const names = new Set<string>();
  try {
    specs.forEach((spec, i) => {
      const name = spec.name ?? (options.listen?.length ? `listener-${i}` : "default");
      if (names.has(name)) throw new TypeError(`two listeners are named "${name}"`);
      names.add(name);
      const stage = proxyStage(s, spec, options, name);
      const listener = listenOn(
        s.transport,
        {
          hostname: spec.path ? undefined : spec.hostname ?? "0.0.0.0",
          port: spec.path ? undefined : spec.port ?? 0,
          path: spec.path,
          tls: stage ? undefined : spec.tls, // after the PROXY header, if at all
          removeStale: spec.removeStale,
          onError: (e) => handshakeFailed(s, e),
          onAcceptError: (kind, e) => s.acceptErrors.add(kind, e),
          backlog: (spec === options ? undefined : spec.backlog) ??
            Math.max(options.backlog ?? 1024, MIN_KERNEL_BACKLOG),
          reusePort: spec.reusePort,
          writeHighWaterMark: options.highWaterMark ?? 64 * 1024,
        },
        (socket) => accept(s, socket, name),
      );
      s.listeners.push({ name, listener });
    });
  } catch (e) {
    for (const { listener } of s.listeners) listener.close();
    s.sweeper.stop();
    throw e;
  }
}

/** Sets up a listener's PROXY stage; TLS on such a listener starts after the header. */
function proxyStage(
  s: ServerState,
  spec: ListenerOptions,
  options: ServeOptions<unknown, unknown, unknown>,
  name: string,
): ProxyStage | undefined {
  const pp = spec.proxyProtocol ?? (spec === options ? undefined : options.proxyProtocol);
  if (!pp) return undefined;
  // TLS after the header is a server-side STARTTLS that takes the bytes read with the
  // header, which not every adapter can do.
  if (spec.tls && !s.transport.serverTlsAfterRead) {
    throw new UnsupportedError(
      s.transport.name,
      'tls with proxyProtocol on one listener (terminate TLS at the proxy, or use adapter: "node")',
    );
  }
  const stage = new ProxyStage(pp, spec.tls);
  (s.proxies ??= new Map()).set(name, stage);
  return stage;
}

/** Stops accepting on every listener. Established connections keep working. */
export async function closeListeners(s: ServerState): Promise<void> {
  await Promise.all(s.listeners.map((l) => l.listener.close().catch(noop)));
}
