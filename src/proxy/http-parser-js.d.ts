/** The part of http-parser-js (which ships no types) the upstream client uses. */
declare module 'http-parser-js' {
  export interface ResponseInfo {
    statusCode: number;
    statusMessage: string;
    versionMajor: number;
    versionMinor: number;
    /** Names and values in order: name, value, name, value… */
    headers: string[];
    upgrade: boolean;
    shouldKeepAlive: boolean;
  }

  export class HTTPParser {
    static readonly RESPONSE: 'RESPONSE';
    static readonly kOnHeadersComplete: 2;
    static readonly kOnBody: 3;
    static readonly kOnMessageComplete: 4;
    /** How header bytes become strings (a static setting of the module). */
    static encoding: BufferEncoding;
    /** Bytes a message's head may have (a static setting each instance takes at every message). */
    static maxHeaderSize: number;
    constructor(type: 'RESPONSE');
    /** The number of bytes consumed, or the parse error. */
    execute(chunk: Buffer): number | Error;
    /** End of input: completes a body delimited by the connection's close, or says the message was cut short. */
    finish(): Error | undefined;
    /** Return true to say the message has no body (HEAD, 204, 304, 1xx). */
    [HTTPParser.kOnHeadersComplete]: (info: ResponseInfo) => boolean | undefined;
    [HTTPParser.kOnBody]: (chunk: Buffer, offset: number, length: number) => void;
    [HTTPParser.kOnMessageComplete]: () => void;
  }
}
