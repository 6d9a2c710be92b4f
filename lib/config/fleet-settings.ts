import { formatValue, suggestFieldName } from './config-errors.js';
import { SLOT_SUBCOMMANDS, type FleetSettings, type SlotSubcommand } from './types.js';

export const DEFAULT_QUEUE_TIMEOUT_SECS = 300;

export const DEFAULT_SLOTS: Readonly<Record<SlotSubcommand, number | 'all'>> = {
  build: 4,
  check: 4,
  clippy: 4,
  doc: 2,
  rustc: 4,
  test: 4,
  bench: 'all',
  nextest: 4,
};

/** Top-level fields of workers.toml that this module reads. */
export const SETTINGS_FIELDS = ['queue_timeout_secs', 'slots'] as const;

/**
 * Validates the top-level settings of a parsed workers.toml. `fail` raises the error for the
 * file, so every message names the field, the value and what is expected.
 */
export function readFleetSettings(document: Record<string, unknown>, fail: (message: string) => never): FleetSettings {
  const { queue_timeout_secs: queueTimeout, slots } = document;
  if (queueTimeout !== undefined && !(Number.isSafeInteger(queueTimeout) && (queueTimeout as number) >= 0)) {
    fail(`field "queue_timeout_secs" is ${formatValue(queueTimeout)}, expected a whole number of seconds (0 or more)`);
  }

  const merged: Record<SlotSubcommand, number | 'all'> = { ...DEFAULT_SLOTS };
  if (slots !== undefined) {
    if (typeof slots !== 'object' || slots === null || Array.isArray(slots)) {
      fail(`field "slots" is ${formatValue(slots)}, expected a table such as [slots] with build = 4`);
    }
    for (const [name, value] of Object.entries(slots as Record<string, unknown>)) {
      if (!(SLOT_SUBCOMMANDS as readonly string[]).includes(name)) {
        fail(`[slots]: unknown subcommand "${name}", ${suggestFieldName(name, SLOT_SUBCOMMANDS)}`);
      }
      const valid = value === 'all' || (Number.isSafeInteger(value) && (value as number) >= 1);
      if (!valid) fail(`[slots]: field "${name}" is ${formatValue(value)}, expected a positive integer or "all"`);
      merged[name as SlotSubcommand] = value as number | 'all';
    }
  }
  return { queueTimeoutSecs: (queueTimeout as number | undefined) ?? DEFAULT_QUEUE_TIMEOUT_SECS, slots: merged };
}
