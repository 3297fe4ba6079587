/** A release of an app as the API returns it: what a deploy rolled out, and how it ended. */

export const releaseStatuses = ['running', 'complete', 'failed'] as const;
export type ReleaseStatus = (typeof releaseStatuses)[number];

export interface Release {
  id: string;
  app_id: string;
  version: number;
  status: ReleaseStatus;
  image: string;
  strategy: string;
  /** The app config rolled out (the parsed aloft.toml / fly.toml), so a rollback can repeat it. */
  config: Record<string, unknown>;
  description: string;
  /** Why it failed: the deploy error's code, fault, message and evidence. */
  failure: Record<string, unknown> | null;
  created_at: number;
  finished_at: number | null;
}
