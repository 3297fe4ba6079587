/**
 * Macaroon tokens: mint with a root key, attenuate offline, verify anywhere with a keyring.
 * Tokens are libmacaroons v2 macaroons, base64url-encoded behind an `aloft_` prefix.
 */
export { ACTIONS, REGISTRY_ACTIONS } from './caveats.ts';
export type { Action, Caveat, CaveatType, RegistryAction } from './caveats.ts';
export type { TokenRequest } from './check.ts';
export { TOKEN_PREFIX } from './format.ts';
export { parseAuthorization } from './header.ts';
export { inspectToken } from './inspect.ts';
export type { TokenInfo, UnreadableCaveat } from './inspect.ts';
export { Keyring } from './keyring.ts';
export type { RootKey } from './keyring.ts';
export { mintPlatformToken, PLATFORM_ORG, PLATFORM_TOKEN_TTL_MS } from './platform.ts';
export { httpRevocationSource, RevocationList, REVOCATION_REFRESH_MS } from './revocations.ts';
export type { RevocationSet, RevocationSource } from './revocations.ts';
export { describeCaveat } from './describe.ts';
export { attenuate, mintToken } from './token.ts';
export type { MintOptions } from './token.ts';
export { authenticateToken, authenticateTokens, authorizeToken, verifyToken } from './verify.ts';
export type { Verified, VerifyOptions } from './verify.ts';
