/**
 * Who is calling and what they may do. The API asks an Authenticator on every request; the
 * static admin token of `aloft up` is one implementation, macaroon tokens another.
 */
import type { FastifyRequest } from 'fastify';
import { AuthError, requireStaticToken } from '../lib/index.ts';

export type Action = 'read' | 'write' | 'create' | 'delete' | 'deploy';

export interface Principal {
  subject: string;
  /** Organizations the caller may act in; null means every organization (the platform admin). */
  orgs: string[] | null;
  /** Apps the caller may touch; null means every app of its organizations. */
  apps: string[] | null;
  actions: Action[] | null;
}

export interface AccessRequest {
  org: string;
  app?: string;
  action: Action;
  machineId?: string;
  region?: string;
}

export interface Authenticator {
  /** Identifies the caller; throws AuthError 401 when the credentials are missing or bad. */
  authenticate(request: FastifyRequest): Promise<Principal>;
  /** Throws AuthError 403 when `principal` may not do `access`. */
  authorize(principal: Principal, access: AccessRequest): void;
}

/** One admin token that may do everything: what `aloft up` prints for a single-operator platform. */
export function staticAdminAuthenticator(token: string): Authenticator {
  return {
    async authenticate(request) {
      requireStaticToken(request, token);
      return { subject: 'admin', orgs: null, apps: null, actions: null };
    },
    authorize(principal, access) {
      checkScope(principal, access);
    },
  };
}

/** The generic scope check shared by authenticators whose principals carry org/app/action lists. */
export function checkScope(principal: Principal, access: AccessRequest): void {
  if (principal.orgs !== null && !principal.orgs.includes(access.org)) {
    throw new AuthError('forbidden', `this token is not valid for organization '${access.org}'`);
  }
  if (access.app !== undefined && principal.apps !== null && !principal.apps.includes(access.app)) {
    throw new AuthError('forbidden', `this token is not valid for app '${access.app}'`);
  }
  if (principal.actions !== null && !principal.actions.includes(access.action)) {
    throw new AuthError('forbidden', `this token does not allow '${access.action}'`, {
      hint: 'use a token with that action, e.g. `aloft tokens create` with the needed --actions',
    });
  }
}
