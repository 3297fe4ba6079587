/** Headers the proxy adds, keeps and drops between a client and a machine. */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** Marks a request one proxy forwarded to another region's proxy: that proxy delivers it locally, never forwarding again. */
export const forwardedFromHeader = 'aloft-forwarded-from';
/** The public port the client used, carried to the peer proxy that delivers a forwarded request. */
export const forwardedPortHeader = 'fly-forwarded-port';
/** The replay hops a request has been through, so loops stop. */
export const replayHopsHeader = 'aloft-replay-hops';
export const servedByMachineHeader = 'aloft-machine';
export const servedByRegionHeader = 'aloft-region';

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings']);
/** Set by the proxy; a client's own values are replaced unless it is a trusted peer proxy. */
const edgeSet = new Set(['fly-client-ip', 'fly-region', forwardedPortHeader, 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-ssl', forwardedFromHeader, replayHopsHeader, 'fly-replay-src']);

export interface ClientFacts {
  /** The client's address as this proxy saw it. */
  clientIp: string;
  publicPort: number;
  encrypted: boolean;
  region: string;
  httpVersion: string;
  /** The request came from a peer proxy that already set the edge headers. */
  fromPeer: boolean;
  keepUpgrade: boolean;
}

/** The headers sent to the machine (or peer proxy): the client's, minus hop-by-hop ones, plus the edge's. */
export function forwardHeaders(headers: IncomingHttpHeaders, facts: ClientFacts): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  // Edge headers are skipped here rather than deleted afterwards: a delete turns the object into
  // a slow dictionary for everything that reads it next, on every request.
  const keepEdge = facts.fromPeer;
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined || k.charCodeAt(0) === 58 /* ':' HTTP/2 pseudo-header */ || hopByHop.has(k) || (!keepEdge && edgeSet.has(k))) continue;
    out[k] = v;
  }
  const authority = headers[':authority'];
  if (out.host === undefined && typeof authority === 'string') out.host = authority;
  if (facts.keepUpgrade && headers.upgrade !== undefined) {
    out.connection = 'upgrade';
    out.upgrade = headers.upgrade;
  }
  const via = `${facts.httpVersion === '2.0' ? '2' : facts.httpVersion} aloft`;
  out.via = headers.via === undefined ? via : `${String(headers.via)}, ${via}`;
  if (facts.fromPeer) return out;
  const prior = headers['x-forwarded-for'];
  out['x-forwarded-for'] = prior === undefined ? facts.clientIp : `${String(prior)}, ${facts.clientIp}`;
  out['x-forwarded-proto'] = facts.encrypted ? 'https' : 'http';
  out['x-forwarded-ssl'] = facts.encrypted ? 'on' : 'off';
  out['x-forwarded-port'] = String(facts.publicPort);
  out[forwardedPortHeader] = String(facts.publicPort);
  out['fly-client-ip'] = facts.clientIp;
  out['fly-region'] = facts.region;
  return out;
}

/**
 * The upstream's response headers (name, value, … as sent) minus connection-specific ones
 * (HTTP/2 refuses them), plus the machine that served it; `servedBy` is undefined for a peer
 * proxy's answer, which names its machine itself (or none, when it could not deliver).
 */
export function responseHeaders(rawHeaders: readonly string[], servedBy: { machineId: string; region: string } | undefined): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (!hopByHop.has(name.toLowerCase())) out.push(name, rawHeaders[i + 1]!);
  }
  if (servedBy !== undefined) out.push(servedByMachineHeader, servedBy.machineId, servedByRegionHeader, servedBy.region);
  return out;
}

/** The first value of header `name` (lower case) among raw headers, or undefined. */
export function rawHeaderValue(rawHeaders: readonly string[], name: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === name.length && rawHeaders[i]!.toLowerCase() === name) return rawHeaders[i + 1];
  return undefined;
}

export function clientIpOf(remoteAddress: string | undefined): string {
  return (remoteAddress ?? '').replace(/^::ffff:/, '');
}
