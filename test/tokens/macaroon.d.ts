// Types for the parts of the `macaroon` npm package (js-macaroon 3.x, CommonJS) the interoperability tests use.
declare module 'macaroon' {
  export interface MacaroonCaveat {
    identifier: Uint8Array;
    location?: string;
    vid?: Uint8Array;
  }

  export interface Macaroon {
    readonly identifier: Uint8Array;
    readonly location: string;
    readonly signature: Uint8Array;
    readonly caveats: MacaroonCaveat[];
    addFirstPartyCaveat(condition: string | Uint8Array): void;
    addThirdPartyCaveat(rootKey: Uint8Array, caveatId: string | Uint8Array, location?: string): void;
    /** Throws unless the signature chain matches `rootKey` and `check` returns null for every condition. */
    verify(rootKey: Uint8Array, check: (condition: string) => string | null, discharges?: Macaroon[]): void;
    exportBinary(): Uint8Array;
  }

  export function newMacaroon(params: {
    identifier: string | Uint8Array;
    rootKey: string | Uint8Array;
    location?: string;
    version?: 1 | 2;
  }): Macaroon;
  /** Accepts v2 binary, or a base64 string of it (standard or URL-safe, padded or not). */
  export function importMacaroon(data: string | Uint8Array): Macaroon;

  const macaroon: {
    newMacaroon: typeof newMacaroon;
    importMacaroon: typeof importMacaroon;
  };
  export default macaroon;
}
