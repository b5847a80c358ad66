// A bench's command line: node's parseArgs with --help (-h) added, which prints the bench's usage
// from its header comment and exits 0; a bad command line (an unknown option, a missing value, an
// argument the bench does not take) is one line on stderr and exit 2, never parseArgs' stack trace.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The usage line(s): indented, `node ...` or `npm run ...` (sudo allowed); then lines indented deeper that go on with `[`. */
const USAGE_START = /^( {2,})(?:sudo )?(?:node|npm run) /;

/** A bench file's header: its leading `//` lines without the `// `, the usage lines apart. */
export function benchHeader(file: string): { usage: string[]; text: string[] } {
  const header: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('//')) break;
    header.push(line.replace(/^\/\/ ?/, ''));
  }
  const at = header.findIndex((l) => USAGE_START.test(l));
  if (at < 0) return { usage: [], text: header };
  const indent = USAGE_START.exec(header[at]!)![1]!.length;
  let end = at + 1;
  while (end < header.length && /^ +\[/.test(header[end]!) && header[end]!.search(/\S/) > indent) end++;
  const text = [...header.slice(0, at), ...header.slice(end)];
  // The blank line that set the usage apart, kept once.
  for (let i = text.length - 1; i > 0; i--) if (text[i] === '' && text[i - 1] === '') text.splice(i, 1);
  while (text.length > 0 && text[text.length - 1] === '') text.pop();
  return { usage: header.slice(at, end).map((l) => l.trim()), text };
}

/** The bench's name for messages (its file's, without .js). */
const nameOf = (file: string): string => path.basename(file).replace(/\.[jt]s$/, '');

/** A bad command line: one line on stderr, exit 2. */
export function usageError(metaUrl: string, msg: string): never {
  console.error(`${nameOf(fileURLToPath(metaUrl))}: ${msg} (--help for usage)`);
  process.exit(2);
}

function printUsage(file: string): never {
  const { usage, text } = benchHeader(file);
  const lines = usage.length === 0 ? text : [`usage: ${usage.join('\n         ')}`, '', ...text];
  console.log(lines.join('\n'));
  process.exit(0);
}

/** parseArgs' message in one line: `unknown option --x`, else its first sentence. */
function oneLine(e: Error & { code?: string }): string {
  const unknown = /^Unknown option '([^']+)'/.exec(e.message);
  if (unknown !== null) return `unknown option ${unknown[1]}`;
  return e.message.split(/\.(?: |$)/)[0]!.replace(/\s+/g, ' ');
}

/**
 * parseArgs(config) for the bench whose `import.meta.url` is metaUrl, with --help / -h added (its
 * usage printed, exit 0) and a bad command line one line and exit 2 (usageError).
 */
export function benchArgs<T extends ParseArgsConfig>(metaUrl: string, config: T, args = process.argv.slice(2)): ReturnType<typeof parseArgs<T>> {
  const file = fileURLToPath(metaUrl);
  const withHelp = { ...config, args, options: { ...config.options, help: { type: 'boolean', short: 'h' } } } as const;
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(withHelp as T);
  } catch (e) {
    // --help beside a bad option is still a request for the usage.
    if (args.includes('--help') || args.includes('-h')) printUsage(file);
    usageError(metaUrl, oneLine(e as Error));
  }
  if ((parsed.values as { help?: boolean }).help === true) printUsage(file);
  return parsed;
}
