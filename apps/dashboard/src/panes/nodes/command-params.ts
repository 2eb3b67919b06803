/**
 * The parameter shapes of the node host's own commands, shown as a hint
 * while the operator types an invoke's JSON params. The gateway does not
 * carry command schemas, so the dashboard keeps these beside the node host's;
 * a test compares them with the node host's zod schemas so they cannot drift.
 */
export type ParamField = { name: string; type: string; optional: boolean };

export const HOST_COMMAND_PARAMS: Readonly<Record<string, readonly ParamField[]>> = {
  'system.info': [],
  'system.notify': [
    { name: 'message', type: 'string', optional: false },
    { name: 'title', type: 'string', optional: true },
    { name: 'level', type: '"info" | "warn"', optional: true },
  ],
  'system.run': [
    { name: 'command', type: 'string', optional: false },
    { name: 'args', type: 'string[]', optional: true },
    { name: 'cwd', type: 'string', optional: true },
    { name: 'stdin', type: 'string', optional: true },
    { name: 'timeoutMs', type: 'number', optional: true },
  ],
  'fs.read': [
    { name: 'path', type: 'string', optional: false },
    { name: 'encoding', type: '"utf8" | "base64"', optional: true },
    { name: 'offset', type: 'number', optional: true },
    { name: 'length', type: 'number', optional: true },
  ],
};

/** `{"command": string, "args"?: string[]} · empty sends {}`, or a plain reminder for a command we do not know. */
export function paramsHint(command: string): string {
  const fields = HOST_COMMAND_PARAMS[command];
  if (!fields) return 'a JSON object · empty sends {}';
  if (fields.length === 0) return 'no params · Enter sends {}';
  const shape = fields.map((f) => `"${f.name}"${f.optional ? '?' : ''}: ${f.type}`).join(', ');
  return `{${shape}} · empty sends {}`;
}
