import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostCommands } from '@loopgate/node';
import { describe, expect, it } from 'vitest';
import { HOST_COMMAND_PARAMS, paramsHint } from '../src/state/index.js';

describe('the params hint of the node host commands', () => {
  it('names exactly the fields, and which are optional, that the node host schemas take', async () => {
    const root = await mkdtemp(join(tmpdir(), 'loopgate-params-'));
    try {
      const { commands } = await createHostCommands({
        nodeName: 'hint-test',
        fs: { roots: [root] },
        run: { allow: ['true'] },
        notify: () => {},
      });
      expect(Object.keys(HOST_COMMAND_PARAMS).sort()).toEqual(Object.keys(commands).sort());
      for (const [name, command] of Object.entries(commands)) {
        // the zod object schema of each command: its keys, and whether a key may be left out
        type Field = { safeParse(value: unknown): { success: boolean } };
        const schema = (command as { params?: { shape: Record<string, Field> } }).params;
        const shape = schema?.shape ?? {};
        const fields = HOST_COMMAND_PARAMS[name]!;
        expect(fields.map((f) => f.name).sort(), name).toEqual(Object.keys(shape).sort());
        for (const field of fields) {
          expect(field.optional, `${name}.${field.name}`).toBe(
            shape[field.name]!.safeParse(undefined).success,
          );
        }
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('shows the shape, says what an empty field sends, and stays plain for unknown commands', () => {
    expect(paramsHint('system.run')).toBe(
      '{"command": string, "args"?: string[], "cwd"?: string, "stdin"?: string, "timeoutMs"?: number} · empty sends {}',
    );
    expect(paramsHint('system.info')).toBe('no params · Enter sends {}');
    expect(paramsHint('camera.snap')).toBe('a JSON object · empty sends {}');
  });
});
