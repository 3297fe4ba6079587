/**
 * One DNS message in, at most one out: decoding, the organization of the asker, `.internal`
 * answers, forwarding, and every error reply. Transport-free, so UDP and TCP share it and tests
 * can feed it bytes directly. Never throws on any input.
 */
import dnsPacket, { type Answer, type Packet, type Question } from 'dns-packet';
import { parseSixpn } from '../net/index.ts';
import type { DnsDirectory } from './directory.ts';
import type { Forwarder } from './forwarder.ts';
import { answerTtlS, negativeTtlS, tcpMessageBytesMax, udpPayloadBytesClassic, udpPayloadBytesMax } from './limits.ts';
import { internalZone, isInternal, parseInternalName } from './names.ts';
import type { RegionDistance } from './nearest.ts';
import { resolveInternal, type NameRecords } from './resolve.ts';
import type { SourceLimits } from './source-limits.ts';

export const rcode = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5 } as const;
const opcodeQuery = 0;
const flagAa = 1 << 10;
const flagTc = 1 << 9;
const flagRd = 1 << 8;
const flagRa = 1 << 7;
const headerBytes = 12;
/** Names whose records are kept between directory changes; beyond it the cache starts over. */
const recordsCachedMax = 10_000;

/** What happened to one message, for the server's counters. */
export type Outcome = 'answered' | 'nxdomain' | 'forwarded' | 'servfail' | 'refused' | 'rate-limited' | 'formerr' | 'notimp' | 'dropped';

export interface ResponderOptions {
  directory: DnsDirectory;
  region: string;
  distance: RegionDistance;
  /** Organization number for askers outside 6PN (loopback in development); undefined refuses them. */
  defaultOrg: number | undefined;
  forwarder: Forwarder | undefined;
  sources: SourceLimits;
}

export interface Reply {
  bytes: Buffer | null;
  outcome: Outcome;
}

/** The organization a source address belongs to: from its 6PN address, else the default. */
export function orgOfSource(address: string, defaultOrg: number | undefined): number | undefined {
  const plain = address.replace(/^::ffff:(?=\d+\.)/i, '').split('%')[0]!;
  const sixpn = parseSixpn(plain);
  // Org 0 (fdaa:0:0::/48) is the platform's own range, where fdaa::3 lives: no tenant is there.
  if (sixpn !== null && sixpn.org !== 0) return sixpn.org;
  return defaultOrg;
}

export class Responder {
  private readonly o: ResponderOptions;
  private readonly cache = new Map<string, NameRecords | null>();
  private cacheSerial = -1;

  constructor(options: ResponderOptions) {
    this.o = options;
  }

  /** The reply to one message from `source` (an IP address); never rejects. */
  async respond(message: Buffer, source: string, overTcp: boolean): Promise<Reply> {
    try {
      return await this.respondOrThrow(message, source, overTcp);
    } catch {
      // A bug of ours, not the client's: say so (SERVFAIL) rather than go silent or crash.
      return message.length < 12 ? { bytes: null, outcome: 'dropped' } : { bytes: headerOnly(message, rcode.servFail), outcome: 'servfail' };
    }
  }

  private async respondOrThrow(message: Buffer, source: string, overTcp: boolean): Promise<Reply> {
    // Nothing readable to reply to, or a response (answering it could start a loop): silence.
    if (message.length < 12 || (message[2]! & 0x80) !== 0) return { bytes: null, outcome: 'dropped' };
    if (!this.o.sources.takeQuery(source)) return { bytes: headerOnly(message, rcode.refused), outcome: 'rate-limited' };
    let query: Packet;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return { bytes: headerOnly(message, rcode.formErr), outcome: 'formerr' };
    }
    const opcode = (message[2]! >> 3) & 0x0f;
    if (opcode !== opcodeQuery) return { bytes: headerOnly(message, rcode.notImp), outcome: 'notimp' };
    const question = query.questions?.[0];
    if (query.questions?.length !== 1 || question === undefined) return { bytes: headerOnly(message, rcode.formErr), outcome: 'formerr' };
    const org = orgOfSource(source, this.o.defaultOrg);
    if (org === undefined || (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY')) {
      return { bytes: this.encode(query, question, { rcode: rcode.refused, answers: [], authorities: [] }, overTcp), outcome: 'refused' };
    }
    if (isInternal(question.name)) return this.answerInternal(query, question, org, overTcp);
    return this.forward(message, query, question, source, overTcp);
  }

  private answerInternal(query: Packet, question: Question, org: number, overTcp: boolean): Reply {
    const records = this.cachedRecords(question.name, org);
    const answers = records === null ? [] : answersFor(question, records, this.soa());
    const authorities = answers.length === 0 ? [this.soa()] : [];
    const code = records === null ? rcode.nxDomain : rcode.noError;
    return { bytes: this.encode(query, question, { rcode: code, answers, authorities, authoritative: true }, overTcp), outcome: records === null ? 'nxdomain' : 'answered' };
  }

  /**
   * Records of a name for an organization, computed once per directory change: a busy name
   * (every machine of an app asking for its database) costs a map lookup, not a sort.
   */
  private cachedRecords(name: string, org: number): NameRecords | null {
    const directory = this.o.directory;
    if (this.cacheSerial !== directory.serial || this.cache.size >= recordsCachedMax) {
      this.cache.clear();
      this.cacheSerial = directory.serial;
    }
    const key = `${org} ${name.toLowerCase()}`;
    let records = this.cache.get(key);
    if (records === undefined) {
      records = resolveInternal(parseInternalName(name), { directory, org, region: this.o.region, distance: this.o.distance });
      this.cache.set(key, records);
    }
    return records;
  }

  private async forward(message: Buffer, query: Packet, question: Question, source: string, overTcp: boolean): Promise<Reply> {
    const refuse = (): Reply => ({ bytes: this.encode(query, question, { rcode: rcode.refused, answers: [], authorities: [] }, overTcp), outcome: 'refused' });
    if (this.o.forwarder === undefined) return refuse();
    const release = this.o.sources.claimForward(source);
    if (release === null) return refuse();
    try {
      const reply = await this.o.forwarder.forward(message, overTcp);
      if (reply === null) return { bytes: this.encode(query, question, { rcode: rcode.servFail, answers: [], authorities: [] }, overTcp), outcome: 'servfail' };
      return { bytes: reply, outcome: 'forwarded' };
    } finally {
      release();
    }
  }

  private soa(): Answer {
    return {
      type: 'SOA',
      name: internalZone,
      ttl: negativeTtlS,
      data: { mname: `ns.${internalZone}`, rname: `hostmaster.${internalZone}`, serial: this.o.directory.serial, refresh: 300, retry: 60, expire: 86_400, minimum: negativeTtlS },
    };
  }

  /**
   * Encodes a reply echoing the question (and EDNS when the query had it). Answers that do not
   * fit the client's size are cut and TC set, so the client asks again over TCP.
   */
  private encode(query: Packet, question: Question, r: { rcode: number; answers: Answer[]; authorities: Answer[]; authoritative?: boolean }, overTcp: boolean): Buffer {
    const opt = query.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    const sizeMax = overTcp ? tcpMessageBytesMax : Math.max(udpPayloadBytesClassic, Math.min(opt?.udpPayloadSize ?? udpPayloadBytesClassic, udpPayloadBytesMax));
    const additionals: Answer[] = opt === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: udpPayloadBytesMax, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
    let flags = r.rcode | ((query.flags ?? 0) & flagRd) | (r.authoritative === true ? flagAa : 0) | (this.o.forwarder === undefined ? 0 : flagRa);
    const base: Packet = { type: 'response', id: query.id ?? 0, flags, questions: [question], answers: [], authorities: r.authorities, additionals };
    let size = dnsPacket.encodingLength(base);
    const answers: Answer[] = [];
    for (const answer of r.answers) {
      const length = dnsPacket.encodingLength({ questions: [], answers: [answer] }) - headerBytes;
      if (size + length > sizeMax) {
        flags |= flagTc;
        break;
      }
      size += length;
      answers.push(answer);
    }
    return dnsPacket.encode({ ...base, flags, answers });
  }
}

/** The answer records of `records` for the question's type. */
function answersFor(question: Question, records: NameRecords, soa: Answer): Answer[] {
  const name = question.name;
  const aaaa = (): Answer[] => records.aaaa.map((data) => ({ type: 'AAAA', name, ttl: answerTtlS, data }));
  const txt = (): Answer[] => (records.txt === null ? [] : [{ type: 'TXT', name, ttl: answerTtlS, data: characterStrings(records.txt) }]);
  const apex = (): Answer[] => (records.soa ? [{ ...soa, name }] : []);
  // As a string: dns-packet's RecordType leaves out the ANY meta-type it does decode.
  switch (question.type as string) {
    case 'AAAA':
      return aaaa();
    case 'TXT':
      return txt();
    case 'SOA':
      return apex();
    case 'ANY':
      return [...apex(), ...aaaa(), ...txt()];
    default:
      return [];
  }
}

/** TXT text split into character-strings of at most 255 bytes (clients join them back). */
function characterStrings(text: string): Buffer[] {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks;
}

/** A reply of just the header: the query's id, opcode and RD, the given rcode, no sections. */
function headerOnly(message: Buffer, code: number): Buffer {
  const reply = Buffer.alloc(12);
  reply.writeUInt16BE(message.readUInt16BE(0), 0);
  reply[2] = 0x80 | (message[2]! & 0x79);
  reply[3] = code;
  return reply;
}
