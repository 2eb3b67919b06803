/**
 * The `/` filter shared by lists and the event log: a case-insensitive
 * regular expression, `!` in front inverts it. A pattern that is not a valid
 * regex (the operator is still typing `(`) matches as plain text instead of
 * hiding everything, and says so.
 */
export type LineFilter = {
  matches(text: string): boolean;
  /** Set when the pattern was not a valid regex and is matched as plain text. */
  warning: string | undefined;
  /** True when nothing is filtered out. */
  empty: boolean;
};

export function compileLineFilter(pattern: string): LineFilter {
  const inverted = pattern.startsWith('!');
  const body = inverted ? pattern.slice(1) : pattern;
  if (body === '') return { matches: () => true, warning: undefined, empty: true };
  let test: (text: string) => boolean;
  let warning: string | undefined;
  try {
    const regex = new RegExp(body, 'i');
    test = (text) => regex.test(text);
  } catch (error) {
    const needle = body.toLowerCase();
    test = (text) => text.toLowerCase().includes(needle);
    warning = `not a valid regex (${(error as Error).message.replace(/^Invalid regular expression: /, '')}); matching as text`;
  }
  return { matches: inverted ? (text) => !test(text) : test, warning, empty: false };
}
