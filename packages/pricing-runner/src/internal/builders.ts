// Growable typed arrays for the text formats, whose sizes are unknown until parsed. Doubling
// keeps appends amortised O(1) without an object per vertex or face.

export class Float64Builder {
  data: Float64Array;
  length = 0;

  constructor(initial = 3 * 1024) {
    this.data = new Float64Array(initial);
  }

  push3(x: number, y: number, z: number): void {
    if (this.length + 3 > this.data.length) this.grow();
    const d = this.data;
    d[this.length] = x;
    d[this.length + 1] = y;
    d[this.length + 2] = z;
    this.length += 3;
  }

  private grow(): void {
    const next = new Float64Array(this.data.length * 2);
    next.set(this.data);
    this.data = next;
  }

  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

export class Uint32Builder {
  data: Uint32Array;
  length = 0;

  constructor(initial = 3 * 1024) {
    this.data = new Uint32Array(initial);
  }

  push3(a: number, b: number, c: number): void {
    if (this.length + 3 > this.data.length) this.grow();
    const d = this.data;
    d[this.length] = a;
    d[this.length + 1] = b;
    d[this.length + 2] = c;
    this.length += 3;
  }

  private grow(): void {
    const next = new Uint32Array(this.data.length * 2);
    next.set(this.data);
    this.data = next;
  }

  view(): Uint32Array {
    return this.data.subarray(0, this.length);
  }
}

/** An indexed triangle mesh in float64, the common form of every text format. */
export interface IndexedMesh {
  /** x, y, z per vertex, in millimetres. */
  positions: Float64Array;
  /** Three vertex indices per triangle. */
  indices: Uint32Array;
  warnings: string[];
}
