-- aloft-schema-version: 6
-- The platform's replicated tables. Each host's agent is the only writer of its own rows.
-- Rules (checked when a node opens): every table has a PRIMARY KEY of TEXT or INTEGER columns,
-- every NOT NULL column has a DEFAULT, no UNIQUE constraints besides the key, and a later
-- version may only add tables, columns and indexes (bump the version line above when it does).

CREATE TABLE hosts (
  id TEXT NOT NULL PRIMARY KEY,
  region TEXT NOT NULL DEFAULT '',
  address TEXT NOT NULL DEFAULT '',
  cpus INTEGER NOT NULL DEFAULT 0,
  memory_mb INTEGER NOT NULL DEFAULT 0,
  cpus_used INTEGER NOT NULL DEFAULT 0,
  memory_mb_used INTEGER NOT NULL DEFAULT 0,
  cordoned INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'unknown',
  updated_at INTEGER NOT NULL DEFAULT 0,
  -- v2: where the host's roles answer (the agent for the API gateway, the proxy for other proxies).
  agent_url TEXT NOT NULL DEFAULT '',
  proxy_url TEXT NOT NULL DEFAULT '',
  machines INTEGER NOT NULL DEFAULT 0,
  -- v3: the private network mesh. The host's WireGuard public key (base64), the ip:port its
  -- WireGuard listens on, and its own 6PN address (fdaa:0:0:HOST::1, which names its host number).
  wg_public_key TEXT NOT NULL DEFAULT '',
  wg_endpoint TEXT NOT NULL DEFAULT '',
  sixpn_address TEXT NOT NULL DEFAULT '',
  -- v4: the id of the host's state node, so readers can tell from SWIM membership whether the host is alive.
  state_node TEXT NOT NULL DEFAULT ''
);

CREATE TABLE machines (
  id TEXT NOT NULL PRIMARY KEY,
  app TEXT NOT NULL DEFAULT '',
  org TEXT NOT NULL DEFAULT '',
  host_id TEXT NOT NULL DEFAULT '',
  region TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL DEFAULT 'created',
  instance_id TEXT NOT NULL DEFAULT '',
  private_ip TEXT NOT NULL DEFAULT '',
  services TEXT NOT NULL DEFAULT '[]',
  checks TEXT NOT NULL DEFAULT '{}',
  metadata TEXT NOT NULL DEFAULT '{}',
  updated_at INTEGER NOT NULL DEFAULT 0,
  -- v2: the address the machine's own host reaches it at (private_ip is its 6PN address).
  local_ip TEXT NOT NULL DEFAULT ''
);

CREATE INDEX machines_app ON machines (app);
CREATE INDEX machines_host ON machines (host_id);

-- v5: each app's secrets, sealed (src/secrets/): written only by the control host's API, read
-- by every host when it prepares a machine, so machines boot and restart with the API down.
CREATE TABLE app_secrets (
  app_id TEXT NOT NULL PRIMARY KEY,
  app TEXT NOT NULL DEFAULT '',
  version INTEGER NOT NULL DEFAULT 0,
  bundle TEXT NOT NULL DEFAULT '{}',
  updated_at INTEGER NOT NULL DEFAULT 0
);

-- v6: when each machine last had traffic through each host's proxy (wall-clock ms), written
-- only by that host's proxy, at most every few seconds per machine with traffic; the region's
-- autostop decider takes the latest over every proxy (src/proxy/activity.ts).
CREATE TABLE machine_activity (
  machine_id TEXT NOT NULL,
  host_id TEXT NOT NULL,
  last_active_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (machine_id, host_id)
);
