/**
 * The `skip` option of a test that needs what this computer may lack (root, ip, wireguard-go…).
 * CI runs as root with every package of scripts/debian-packages.txt installed, so there a missing
 * prerequisite is a broken CI machine: it fails the test file instead of skipping it quietly.
 * Elsewhere (a developer without root) the test is skipped with the reason.
 */
export function skipUnlessAvailable(missing: readonly string[], env: { ci: boolean; root: boolean } = { ci: process.env.CI === 'true', root: process.getuid?.() === 0 }): string | false {
  if (missing.length === 0) return false;
  const reason = `needs ${missing.join(', ')}`;
  if (env.ci && env.root) throw new Error(`CI runs as root, so this test must not be skipped, but it ${reason}: install them with \`bash scripts/setup.sh\``);
  return reason;
}
