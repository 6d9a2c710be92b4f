import type { RchPaths } from '../config/paths.js';
import type { ProjectConfig, WorkerConfig } from '../config/types.js';
import type { ProjectLayout } from '../sync/cargo-metadata.js';
import type { RemoteBuildResult } from '../build/remote-build.js';
import type { PhaseTimings } from '../build/phase-timings.js';
import type { SlotRequest } from '../remote/run-remote-cargo.js';
import { RchError, type RchErrorCode, type RchErrorKind } from '../errors.js';
import type { DaemonStatus } from './daemon-status.js';

/** Increased whenever a message changes meaning. A client that meets another version replaces the daemon. */
export const PROTOCOL_VERSION = 1;

/** Properties of the local terminal, so the worker's cargo chooses colours and progress as it would locally. */
export interface TerminalInfo {
  isTTY: boolean;
  /** Columns of the terminal; absent when stderr is no terminal. */
  columns?: number;
}

/** The data of a RemoteBuildRequest: everything but its callbacks and signal. */
export interface BuildRequestData {
  worker: WorkerConfig;
  paths: RchPaths;
  env: Record<string, string>;
  cwd: string;
  args: string[];
  subcommandIndex: number;
  layout: ProjectLayout;
  project: ProjectConfig;
  terminal: TerminalInfo;
  slots?: SlotRequest;
}

/** An RchError as it crosses the socket. */
export interface WireError {
  code: RchErrorCode;
  kind: RchErrorKind;
  message: string;
  hint?: string;
}

export type ClientMessage =
  | { type: 'hello'; protocol: number }
  | { type: 'build'; protocol: number; build: BuildRequestData }
  | { type: 'abort'; reason: string }
  | { type: 'status'; protocol: number }
  | { type: 'stop'; protocol: number };

export type DaemonMessage =
  | { type: 'hello'; protocol: number; pid: number }
  /** `data` is base64, because cargo's output need not be UTF-8. */
  | { type: 'stdout'; data: string }
  | { type: 'stderr'; data: string }
  /** `timings` are the build's phase timings, which the client adds to its own (RCH_TIMINGS=1). */
  | { type: 'result'; result: RemoteBuildResult; timings: PhaseTimings }
  | { type: 'error'; error: WireError; timings?: PhaseTimings }
  | { type: 'status'; status: DaemonStatus }
  | { type: 'stopping' };

/** Converts any thrown value for the socket; anything but an RchError is an internal error. */
export function toWireError(error: unknown): WireError {
  if (error instanceof RchError) {
    return { code: error.code, kind: error.kind, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { code: 'RCH_INTERNAL', kind: 'internal', message: `daemon: ${detail}` };
}

/** Rebuilds the RchError the daemon caught, with the same code and kind. */
export function fromWireError(error: WireError): RchError {
  return new RchError(error.code, error.message, { kind: error.kind, ...(error.hint ? { hint: error.hint } : {}) });
}

/** Checks the fields of a build request that the daemon relies on. */
export function isBuildRequestData(value: unknown): value is BuildRequestData {
  if (typeof value !== 'object' || value === null) return false;
  const data = value as Partial<BuildRequestData>;
  return (
    typeof data.worker?.id === 'string' &&
    typeof data.paths?.cache === 'string' &&
    typeof data.env === 'object' &&
    typeof data.cwd === 'string' &&
    Array.isArray(data.args) &&
    typeof data.subcommandIndex === 'number' &&
    Array.isArray(data.layout?.roots) &&
    Array.isArray(data.project?.exclude) &&
    typeof data.terminal?.isTTY === 'boolean'
  );
}
