/**
 * A file of fixed-width binary records (`words` unsigned 32-bit words each), appended in order and read back in order:
 * the spill of a streamed conversion that must read its input twice (e.g. once to build vocabularies, once to write
 * samples) without parsing the text again. Writes and reads go through one buffer of about 4 MiB.
 */
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';

const BLOCK_BYTES = 4 << 20;

export class RecordFile {
  /** The write buffer: write a reserved record's words at buf[offset ..]. */
  buf: Uint32Array;
  private fd: number;
  private n = 0;
  /** Records written. */
  records = 0;
  private closed = false;

  constructor(readonly file: string, readonly words: number) {
    this.buf = new Uint32Array(Math.max(1, Math.floor(BLOCK_BYTES / 4 / words)) * words);
    this.fd = openSync(file, 'w');
  }

  /** Reserves the next record; returns the offset of its first word in `buf`. */
  reserve(): number {
    if (this.n * this.words === this.buf.length) this.flush();
    this.records++;
    return this.n++ * this.words;
  }

  private flush(): void {
    const bytes = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.n * this.words * 4);
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
    this.n = 0;
  }

  /** Ends writing. */
  close(): void {
    if (this.closed) return;
    this.flush();
    closeSync(this.fd);
    this.closed = true;
  }

  /** Calls `onRecord(words, at)` for every record in order (closes the writer first). */
  forEach(onRecord: (words: Uint32Array, at: number) => void): void {
    this.close();
    const W = this.words;
    const bytes = Buffer.allocUnsafe(Math.max(1, Math.floor(BLOCK_BYTES / 4 / W)) * W * 4);
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    const fd = openSync(this.file, 'r');
    try {
      let left = this.records;
      while (left > 0) {
        const want = Math.min(left, bytes.length / 4 / W) * W * 4;
        let got = 0;
        while (got < want) {
          const r = readSync(fd, bytes, got, want - got, null);
          if (r === 0) throw new Error(`${this.file}: ended early (was the temporary directory changed?)`);
          got += r;
        }
        const recs = want / 4 / W;
        for (let i = 0; i < recs; i++) onRecord(words, i * W);
        left -= recs;
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Closes and deletes the file. */
  remove(): void {
    this.close();
    rmSync(this.file, { force: true });
  }
}
