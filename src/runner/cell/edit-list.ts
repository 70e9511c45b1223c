/** Offset-based source edits that keep every line of the source on its line number. */

const LINE_BREAKS = /\r\n?|\n|\u2028|\u2029/g;

export function countLineBreaks(text: string): number {
  return text.match(LINE_BREAKS)?.length ?? 0;
}

interface Edit {
  start: number;
  end: number;
  text: string;
  seq: number;
}

/**
 * Edits to the source by offset, applied in one pass. Replacements keep the replaced range's
 * line count (padding with newlines) so later lines keep their numbers.
 */
export class EditList {
  private readonly edits: Edit[] = [];
  private readonly source: string;

  constructor(source: string) {
    this.source = source;
  }

  insert(at: number, text: string): void {
    this.edits.push({ start: at, end: at, text, seq: this.edits.length });
  }

  replace(start: number, end: number, text: string): void {
    const missing = countLineBreaks(this.source.slice(start, end)) - countLineBreaks(text);
    this.edits.push({ start, end, text: text + '\n'.repeat(Math.max(0, missing)), seq: this.edits.length });
  }

  apply(): string {
    // At one offset, insertions go before a replacement starting there (`return (` before the
    // `import` of `import('x')`), and otherwise in the order they were made.
    const sorted = [...this.edits].sort(
      (a, b) => a.start - b.start || Number(a.end > a.start) - Number(b.end > b.start) || a.seq - b.seq,
    );
    let out = '';
    let cursor = 0;
    for (const edit of sorted) {
      if (edit.start < cursor) throw new Error(`overlapping cell edits at offset ${edit.start}`);
      out += this.source.slice(cursor, edit.start) + edit.text;
      cursor = edit.end;
    }
    return out + this.source.slice(cursor);
  }
}
