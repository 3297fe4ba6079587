/**
 * Every bound of the state layer in one place, with units in the names. Gossip spreads bad data
 * as fast as good (DESIGN.md lesson 2), so nothing here is unbounded: messages, queues, rates,
 * retries and timeouts all have a named ceiling.
 */
export interface StateLimits {
  /** Largest packet a node sends or accepts, after authentication framing. */
  messageBytesMax: number;
  /** Packets up to this size go by UDP; larger ones by TCP. Keeps UDP below common MTUs. */
  udpPayloadBytesMax: number;
  /** A single transaction may touch at most this many cells, so one version always fits a message. */
  transactionCellsMax: number;
  /** Encoded size bound of one version's changes; keeps it below `messageBytesMax` with room for framing. */
  transactionBytesMax: number;
  /** Statements in one `transaction()` call. */
  transactionStatementsMax: number;
  /** Local writes admitted per second (token bucket refill) and burst; a spamming writer slows only itself. */
  localWritesPerSecond: number;
  localWritesBurst: number;
  /** Broadcast changesets accepted per second from one origin site; excess waits for anti-entropy sync. */
  remoteVersionsPerSitePerSecond: number;
  remoteVersionsPerSiteBurst: number;
  /** Changesets waiting to be gossiped; the oldest, most-transmitted ones are dropped beyond this. */
  broadcastQueueItemsMax: number;
  /** Queue entries one origin site may occupy, so one writer cannot crowd out the rest. */
  broadcastQueueItemsPerSiteMax: number;
  /** Membership updates waiting to be piggybacked. */
  memberQueueItemsMax: number;
  /** Members one node tracks; joins beyond this are refused. */
  membersMax: number;
  /** Version ranges one node reports per site in a sync summary (a fragmented history is truncated). */
  syncRangesPerSiteMax: number;
  /** Sites in one summary. */
  syncSitesMax: number;
  /** Versions sent in response to one sync request; the rest comes at the next round. */
  syncVersionsPerResponseMax: number;
  /** Changes kept per subscription for resuming after a disconnect. */
  subscriptionLogChangesMax: number;
  /** Events buffered for one slow subscriber before it is cut off (it may resume by change id). */
  subscriptionBufferEventsMax: number;
  /** Rows a query returns over HTTP before it is cut off with an error line. */
  queryRowsMax: number;
}

export const defaultLimits: StateLimits = {
  messageBytesMax: 1024 * 1024,
  udpPayloadBytesMax: 1200,
  transactionCellsMax: 4096,
  transactionBytesMax: 512 * 1024,
  transactionStatementsMax: 1000,
  localWritesPerSecond: 2000,
  localWritesBurst: 4000,
  remoteVersionsPerSitePerSecond: 2000,
  remoteVersionsPerSiteBurst: 4000,
  broadcastQueueItemsMax: 8192,
  broadcastQueueItemsPerSiteMax: 2048,
  memberQueueItemsMax: 1024,
  membersMax: 4096,
  syncRangesPerSiteMax: 256,
  syncSitesMax: 4096,
  syncVersionsPerResponseMax: 2000,
  subscriptionLogChangesMax: 10_000,
  subscriptionBufferEventsMax: 10_000,
  queryRowsMax: 1_000_000,
};

/** Protocol timing; the simulator uses the same values as production. */
export interface StateTiming {
  /** SWIM: one member is probed per interval. */
  probeIntervalMs: number;
  /** SWIM: wait this long for a direct ack before asking `indirectProbes` others. */
  probeTimeoutMs: number;
  indirectProbes: number;
  /** SWIM: a suspect is declared dead after `suspicionMult * log10(max(n,10)) * probeIntervalMs`. */
  suspicionMult: number;
  /** Gossip: how often queued changesets and member updates are pushed to `gossipFanout` peers. */
  gossipIntervalMs: number;
  gossipFanout: number;
  /** Each queued item is sent in `retransmitMult * ceil(log10(n+1))` gossip rounds. */
  retransmitMult: number;
  /** Anti-entropy: one pull from a random peer per interval. */
  syncIntervalMs: number;
  /** Chance that a sync round goes to a member believed dead, which heals partitions. */
  syncDeadMemberChance: number;
}

export const defaultTiming: StateTiming = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 400,
  indirectProbes: 3,
  suspicionMult: 4,
  gossipIntervalMs: 20,
  gossipFanout: 3,
  retransmitMult: 2,
  syncIntervalMs: 1000,
  syncDeadMemberChance: 0.2,
};
