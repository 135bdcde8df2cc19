/**
 * Keeps the first `limit` bytes of a child's output stream and counts the rest, so a chatty
 * command cannot exhaust memory. A small tail is kept apart, for error messages that quote the
 * last lines even when the middle was dropped.
 */
export class OutputCapture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private total = 0;
  private tail: Buffer = Buffer.alloc(0);

  constructor(
    private readonly limit: number,
    private readonly tailLimit = 8 * 1024,
  ) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.limit - this.kept;
    if (room > 0) {
      const piece = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(piece);
      this.kept += piece.length;
    }
    if (this.tailLimit > 0) {
      const joined = Buffer.concat([this.tail, chunk]);
      this.tail = joined.length <= this.tailLimit ? joined : Buffer.from(joined.subarray(-this.tailLimit));
    }
  }

  /** True when bytes were dropped. */
  get truncated(): boolean {
    return this.total > this.kept;
  }

  /** Every byte the stream produced, kept or not. */
  get totalBytes(): number {
    return this.total;
  }

  /** The kept output as UTF-8; when truncated it ends with `\n[... truncated N bytes]`. */
  text(): string {
    const kept = Buffer.concat(this.chunks, this.kept);
    if (!this.truncated) return kept.toString('utf8');
    // Cut at a character boundary so the kept text does not end in a replacement character.
    const end = utf8Boundary(kept);
    return `${kept.subarray(0, end).toString('utf8')}\n[... truncated ${this.total - end} bytes]`;
  }

  /** The last `count` lines of the stream (from the kept tail), without a trailing empty line. */
  lastLines(count: number): string[] {
    const partial = this.total > this.tail.length;
    const lines = this.tail.toString('utf8').split(/\r?\n/);
    if (partial) lines.shift(); // the tail starts mid-line
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-count);
  }
}

/** The largest length <= bytes.length that does not split a UTF-8 sequence. */
function utf8Boundary(bytes: Buffer): number {
  const length = bytes.length;
  for (let back = 1; back <= Math.min(4, length); back++) {
    const byte = bytes[length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const size = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return size > back ? length - back : length;
  }
  return length;
}
