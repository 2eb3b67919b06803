import { copyFile, readFile } from 'node:fs/promises';
import { GatewayError, LoopgateConfig, writeJsonAtomic } from '@loopgate/protocol';
import JSON5 from 'json5';
import { hasComments } from '../tls/config-pin.js';

/**
 * Sets `currentContext` in the config file. A file with comments is left
 * alone (rewriting would drop them) and the operator is told the line to
 * change; otherwise the old file is kept as `<path>.bak` first.
 */
export async function saveCurrentContext(
  configPath: string,
  name: string,
): Promise<{ previous: string | undefined; backup: string }> {
  const text = await readFile(configPath, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new GatewayError(
      'BAD_REQUEST',
      `cannot read the config file ${configPath} (${error.code})`,
    );
  });
  if (hasComments(text))
    throw new GatewayError(
      'CONFLICT',
      `the config file has comments that rewriting it would lose; set it yourself: currentContext: ${JSON.stringify(name)}`,
    );
  const input = JSON5.parse(text) as Record<string, unknown>;
  const previous = typeof input.currentContext === 'string' ? input.currentContext : undefined;
  input.currentContext = name;
  const checked = LoopgateConfig.safeParse(input);
  if (!checked.success)
    throw new GatewayError(
      'BAD_REQUEST',
      `the config file would not validate with currentContext "${name}": ${checked.error.issues[0]?.message ?? ''}`,
      {
        details: { configPath },
      },
    );
  const backup = `${configPath}.bak`;
  await copyFile(configPath, backup);
  await writeJsonAtomic(configPath, input, { mode: 0o600 });
  return { previous, backup };
}
