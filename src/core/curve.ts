/**
 * A bounded, shape-keeping sample of a curve over steps (the training loss of a run of any length), kept up to
 * date one point at a time.
 *
 * Steps are whole numbers, grouped in buckets of `width` steps (a power of two, bucket k holds steps [k·width, (k+1)·width));
 * each bucket keeps its lowest and highest point (so a spike survives any amount of downsampling), its count
 * and its mean. When more than `maxBuckets` buckets are occupied, the width doubles and neighbouring buckets
 * merge, which gives exactly what bucketing all points at the new width gives (`bucketize`). The newest
 * `tailPoints` points are also kept raw, so a resume that rolls back to a recent checkpoint (or a second writer
 * that rewrites a recent step) changes the buckets exactly; a rollback deeper than that keeps the buckets before
 * the rollback step as they were.
 */

export interface CurveBucket {
  /** Bucket number at the curve's width: the bucket holds steps [index·width, (index+1)·width). */
  index: number;
  count: number;
  /** Sum of the values and of the steps, for the mean point. */
  sum: number;
  sumX: number;
  /** The lowest and highest point, [step, value]; on ties, the earlier step. */
  min: [number, number];
  max: [number, number];
}

export interface CurveSample {
  /** Steps per bucket. */
  width: number;
  buckets: CurveBucket[];
  /** Points represented. */
  points: number;
}

function bucketOf(x: number, y: number, width: number): CurveBucket {
  return { index: Math.floor(x / width), count: 1, sum: y, sumX: x, min: [x, y], max: [x, y] };
}

/** Folds `b` (later steps) into `a` (earlier steps), in place. */
function absorb(a: CurveBucket, b: CurveBucket): void {
  a.count += b.count;
  a.sum += b.sum;
  a.sumX += b.sumX;
  if (b.min[1] < a.min[1]) a.min = b.min;
  if (b.max[1] > a.max[1]) a.max = b.max;
}

function addPoint(b: CurveBucket, x: number, y: number): void {
  b.count++;
  b.sum += y;
  b.sumX += x;
  if (y < b.min[1] || (y === b.min[1] && x < b.min[0])) b.min = [x, y];
  if (y > b.max[1] || (y === b.max[1] && x < b.max[0])) b.max = [x, y];
}

/** Buckets of `width` steps over points in step order: the full recomputation the incremental curve equals. */
export function bucketize(points: ReadonlyArray<readonly [number, number]>, width: number): CurveBucket[] {
  const out: CurveBucket[] = [];
  for (const [x, y] of points) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const index = Math.floor(x / width);
    const last = out[out.length - 1];
    if (last && last.index === index) addPoint(last, x, y);
    else out.push(bucketOf(x, y, width));
  }
  return out;
}

/** The smallest power-of-two width at which `points` occupy at most `maxBuckets` buckets. */
export function widthFor(points: ReadonlyArray<readonly [number, number]>, maxBuckets: number): number {
  let width = 1;
  for (;;) {
    let n = 0;
    let last = Number.NaN;
    for (const [x, y] of points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      const k = Math.floor(x / width);
      if (k !== last) n++;
      last = k;
    }
    if (n <= maxBuckets) return width;
    width *= 2;
  }
}

export interface CurveOptions {
  /** Buckets kept at most (default 512: twice the dots of a 256-cell-wide braille chart). */
  maxBuckets?: number;
  /** Newest points kept raw (default 8192: deeper than the rollback of a resume from a checkpoint saved every few thousand logged steps). */
  tailPoints?: number;
}

/** A StepCurve as plain data (JSON), to carry it across processes. */
export interface StepCurveState {
  maxBuckets: number;
  tailPoints: number;
  width: number;
  sealed: CurveBucket[];
  /** null stands for -Infinity (nothing sealed yet), which JSON cannot hold. */
  sealedEnd: number | null;
  tailX: number[];
  tailY: number[];
}

export class StepCurve {
  readonly maxBuckets: number;
  readonly tailPoints: number;
  private width = 1;
  /** Buckets of points older than the tail, by index. */
  private sealed: CurveBucket[] = [];
  /** Steps below this are in `sealed`. */
  private sealedEnd = Number.NEGATIVE_INFINITY;
  private tailX: number[] = [];
  private tailY: number[] = [];
  /** Distinct bucket indices among the tail points that `sealed` does not already have. */
  private tailBuckets = 0;

  constructor(opts: CurveOptions = {}) {
    this.maxBuckets = Math.max(2, opts.maxBuckets ?? 512);
    this.tailPoints = Math.max(2, opts.tailPoints ?? 8192);
  }

  state(): StepCurveState {
    return {
      maxBuckets: this.maxBuckets,
      tailPoints: this.tailPoints,
      width: this.width,
      sealed: this.sealed.map((b) => ({ ...b })),
      sealedEnd: Number.isFinite(this.sealedEnd) ? this.sealedEnd : null,
      tailX: [...this.tailX],
      tailY: [...this.tailY],
    };
  }

  static from(s: StepCurveState): StepCurve {
    const c = new StepCurve({ maxBuckets: s.maxBuckets, tailPoints: s.tailPoints });
    c.width = s.width;
    c.sealed = s.sealed.map((b) => ({ ...b, min: [b.min[0], b.min[1]], max: [b.max[0], b.max[1]] }));
    c.sealedEnd = s.sealedEnd ?? Number.NEGATIVE_INFINITY;
    c.tailX = [...s.tailX];
    c.tailY = [...s.tailY];
    c.recount();
    return c;
  }

  /** Sets the value at step `x` (a new step, or a new value for a step already there). Non-finite y is ignored. */
  set(x: number, y: number): void {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    const n = this.tailX.length;
    if (x >= this.sealedEnd && (n === 0 || x > this.tailX[n - 1]!)) {
      if (n === 0 || Math.floor(x / this.width) !== Math.floor(this.tailX[n - 1]! / this.width)) {
        const last = this.sealed[this.sealed.length - 1];
        if (n > 0 || !last || last.index !== Math.floor(x / this.width)) this.tailBuckets++;
      }
      this.tailX.push(x);
      this.tailY.push(y);
    } else if (x >= this.sealedEnd) {
      const i = this.search(x);
      if (this.tailX[i] === x) this.tailY[i] = y;
      else {
        this.tailX.splice(i, 0, x);
        this.tailY.splice(i, 0, y);
        this.recount();
      }
    } else {
      // Older than the raw tail: folded into its bucket (the value it replaces cannot be taken out).
      const index = Math.floor(x / this.width);
      const at = this.sealedSearch(index);
      const b = this.sealed[at];
      if (b && b.index === index) addPoint(b, x, y);
      else this.sealed.splice(at, 0, bucketOf(x, y, this.width));
    }
    if (this.tailX.length > this.tailPoints) this.seal(this.tailX.length - (this.tailPoints >> 1));
    while (this.sealed.length + this.tailBuckets > this.maxBuckets) this.widen();
  }

  /**
   * Appends a curve of later steps (every step of `later` above every step here): the same buckets as setting its
   * points here one by one (sums may differ in the last bits). Where `later` kept every point raw, they are set
   * one by one; else this curve's raw tail is sealed and `later`'s stays raw (as deep as one pass keeps it).
   */
  append(later: StepCurve): void {
    if (later.size === 0) return;
    if (this.size === 0) {
      Object.assign(this, StepCurve.from(later.state()));
      return;
    }
    if (later.sealed.length === 0) {
      // All raw: point by point, exactly as one pass would have set them.
      for (let i = 0; i < later.tailX.length; i++) this.set(later.tailX[i]!, later.tailY[i]!);
      return;
    }
    // `later` sealed its oldest points: so would one pass have sealed everything here, which is older.
    if (this.tailX.length > 0) this.seal(this.tailX.length);
    const other = StepCurve.from(later.state());
    while (this.width < other.width) this.widen();
    while (other.width < this.width) other.widen();
    for (const b of other.sealed) {
      const last = this.sealed[this.sealed.length - 1];
      if (last && last.index === b.index) absorb(last, b);
      else this.sealed.push({ ...b, min: [b.min[0], b.min[1]], max: [b.max[0], b.max[1]] });
    }
    if (other.sealed.length > 0) this.sealedEnd = other.sealedEnd;
    this.tailX = other.tailX;
    this.tailY = other.tailY;
    this.recount();
    while (this.sealed.length + this.tailBuckets > this.maxBuckets) this.widen();
  }

  /** Removes the value at step `x`, if it is in the raw tail (older values stay in their bucket). */
  delete(x: number): void {
    if (x < this.sealedEnd) return;
    const i = this.search(x);
    if (this.tailX[i] !== x) return;
    this.tailX.splice(i, 1);
    this.tailY.splice(i, 1);
    this.recount();
  }

  /** Drops every point at step `fromX` or later (a resume rolled back to it). */
  truncate(fromX: number): void {
    const i = this.search(fromX);
    if (i < this.tailX.length) {
      this.tailX.length = i;
      this.tailY.length = i;
    }
    if (fromX < this.sealedEnd) {
      // Whole buckets from fromX on go; the one fromX falls in keeps what it had.
      const index = Math.floor(fromX / this.width);
      let keep = this.sealed.length;
      while (keep > 0 && this.sealed[keep - 1]!.index * this.width >= fromX && this.sealed[keep - 1]!.index !== index) keep--;
      this.sealed.length = keep;
      this.sealedEnd = fromX;
    }
    this.recount();
  }

  get size(): number {
    let n = this.tailX.length;
    for (const b of this.sealed) n += b.count;
    return n;
  }

  /** The buckets at the current width, sealed and tail together. */
  sample(): CurveSample {
    const buckets = this.sealed.map((b) => ({ ...b }));
    for (let i = 0; i < this.tailX.length; i++) {
      const x = this.tailX[i]!;
      const y = this.tailY[i]!;
      const index = Math.floor(x / this.width);
      const last = buckets[buckets.length - 1];
      if (last && last.index === index) addPoint(last, x, y);
      else buckets.push(bucketOf(x, y, this.width));
    }
    let points = 0;
    for (const b of buckets) points += b.count;
    return { width: this.width, buckets, points };
  }

  private search(x: number): number {
    let lo = 0;
    let hi = this.tailX.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.tailX[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private sealedSearch(index: number): number {
    let lo = 0;
    let hi = this.sealed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sealed[mid]!.index < index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Moves the oldest `n` raw points into the buckets. */
  private seal(n: number): void {
    for (let i = 0; i < n; i++) {
      const x = this.tailX[i]!;
      const y = this.tailY[i]!;
      const index = Math.floor(x / this.width);
      const last = this.sealed[this.sealed.length - 1];
      if (last && last.index === index) addPoint(last, x, y);
      else this.sealed.push(bucketOf(x, y, this.width));
    }
    this.sealedEnd = Math.floor(this.tailX[n - 1]!) + 1;
    this.tailX.splice(0, n);
    this.tailY.splice(0, n);
    this.recount();
  }

  private widen(): void {
    this.width *= 2;
    const merged: CurveBucket[] = [];
    for (const b of this.sealed) {
      const index = Math.floor(b.index / 2);
      const last = merged[merged.length - 1];
      if (last && last.index === index) absorb(last, b);
      else merged.push({ ...b, index });
    }
    this.sealed = merged;
    this.recount();
  }

  private recount(): void {
    let n = 0;
    let last = this.sealed.length > 0 ? this.sealed[this.sealed.length - 1]!.index : Number.NaN;
    for (const x of this.tailX) {
      const k = Math.floor(x / this.width);
      if (k !== last) n++;
      last = k;
    }
    this.tailBuckets = n;
  }
}

/**
 * Chart points from a sample: the lowest and highest point of each bucket in step order, so the drawn line
 * goes through every spike.
 */
export function envelope(sample: CurveSample): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const b of sample.buckets) {
    const [first, second] = b.min[0] <= b.max[0] ? [b.min, b.max] : [b.max, b.min];
    out.push([first[0], first[1]]);
    if (second !== first && (second[0] !== first[0] || second[1] !== first[1])) out.push([second[0], second[1]]);
  }
  return out;
}

/** The mean point of each bucket (for a smoothed line). */
export function means(sample: CurveSample): Array<[number, number]> {
  return sample.buckets.map((b) => [b.sumX / b.count, b.sum / b.count]);
}
