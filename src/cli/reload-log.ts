// The fields of uvsd's log lines that carry a list which grows with the table (a reload's changes,
// a state file's entries left out).

/** `{ [name]: list }`. */
export function listFields(name: string, _count: string, list: readonly string[], _where: string): Record<string, unknown> {
  return { [name]: list };
}

/** The `configuration reloaded` line's fields: the changes, the ignored settings. */
export function reloadLogFields(via: string, r: { changes: readonly string[]; ignored: readonly string[] }): Record<string, unknown> {
  return { via, changes: r.changes, ignored: r.ignored };
}
