import createDebug from 'debug';

/**
 * Returns a namespaced debug logger (`rch:<namespace>`), written to stderr and enabled with
 * `DEBUG=rch:*`. When disabled, a call costs one boolean check.
 */
export function createLogger(namespace: string): createDebug.Debugger {
  return createDebug(`rch:${namespace}`);
}
