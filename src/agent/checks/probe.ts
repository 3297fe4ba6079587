/**
 * One probe of one check against a machine's address: a TCP connect, or an HTTP request whose
 * status decides the result (2xx passing, 429 warning as in Consul, anything else critical).
 * Outputs are short and stable (no timings), so a check that keeps its result writes nothing.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { CheckStatus } from '../../lib/index.ts';
import type { CheckSpec } from './specs.ts';

export type ProbeResult = Pick<CheckStatus, 'status' | 'output'>;

/** Bytes of a failing response's body quoted in the output. */
export const outputBodyBytesMax = 200;
/** The whole output, which every host receives by gossip. */
export const outputCharsMax = 500;

export async function probe(spec: CheckSpec, address: string): Promise<ProbeResult> {
  const result = await (spec.type === 'tcp' ? probeTcp(spec, address) : probeHttp(spec, address));
  return result.output.length > outputCharsMax ? { ...result, output: `${result.output.slice(0, outputCharsMax - 1)}…` } : result;
}

function probeTcp(spec: CheckSpec, address: string): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port: spec.port, timeout: spec.timeoutMs });
    const finish = (result: ProbeResult): void => {
      socket.destroy();
      resolve(result);
    };
    socket.once('connect', () => finish({ status: 'passing', output: `TCP connect ${spec.port}: success` }));
    socket.once('timeout', () => finish({ status: 'critical', output: `TCP connect ${spec.port}: no answer within ${spec.timeoutMs} ms` }));
    socket.once('error', (err: NodeJS.ErrnoException) => finish({ status: 'critical', output: `TCP connect ${spec.port}: ${err.code ?? err.message}` }));
  });
}

function probeHttp(spec: CheckSpec, address: string): Promise<ProbeResult> {
  const what = `HTTP ${spec.method} ${spec.path}`;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const send = spec.protocol === 'https' ? httpsRequest : httpRequest;
    let req: ReturnType<typeof httpRequest>;
    try {
      req = send({
        host: address,
        port: spec.port,
        method: spec.method,
        path: spec.path,
        headers: { 'user-agent': 'aloft-health-check', ...spec.headers },
        agent: false,
        ...(spec.protocol === 'https' ? { rejectUnauthorized: !spec.tlsSkipVerify } : {}),
      });
    } catch (err) {
      // A method or header node:http refuses to send is the config's problem, shown as the check's output.
      resolve({ status: 'critical', output: `${what}: cannot send this request (${(err as Error).message})` });
      return;
    }
    // The whole exchange, not just the connect, must fit in the timeout.
    const timer = setTimeout(() => finish({ status: 'critical', output: `${what}: no response within ${spec.timeoutMs} ms` }), spec.timeoutMs);
    req.once('error', (err: NodeJS.ErrnoException) => finish({ status: 'critical', output: `${what}: ${err.code ?? err.message}` }));
    req.once('response', (res) => {
      const code = res.statusCode ?? 0;
      const line = `${what}: ${code} ${res.statusMessage ?? ''}`.trimEnd();
      if (code >= 200 && code < 300) {
        res.resume();
        finish({ status: 'passing', output: line });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length >= outputBodyBytesMax) res.destroy();
      });
      const done = (): void => {
        const excerpt = body.slice(0, outputBodyBytesMax).trim();
        finish({ status: code === 429 ? 'warning' : 'critical', output: excerpt === '' ? line : `${line}: ${excerpt}` });
      };
      res.once('end', done);
      res.once('close', done);
    });
    req.end();
  });
}
