/**
 * Encodes RunFunctionResponse for the wire, fast. ts-proto wraps every JSON
 * value of every composed resource into Struct/Value message objects before
 * writing them, which was most of a call's cost and garbage. This writes the
 * desired state (nearly all of a response) straight from the plain objects in
 * two passes, sizes first, then into one buffer, and lets ts-proto encode the
 * small rest. Protobuf allows fields in any order, so the result decodes to
 * the same message (test/unit/wire.test.ts).
 *
 * Every length-delimited message gets a slot in the size table before its
 * children are visited (pre-order); the writer takes sizes in that same order.
 */
import {
  Ready,
  RunFunctionResponse,
  type Resource,
  type State,
} from "@crossplane-org/function-sdk-typescript";

// Tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited).
const LEN1 = 10;
const LEN2 = 18;
const VARINT3 = 24;
const V_NULL = 8;
const V_NUMBER = 17;
const V_STRING = 26;
const V_BOOL = 32;
const V_STRUCT = 42;
const V_LIST = 50;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Short strings are walked here rather than handed to C++, which costs more than the copy. */
const SHORT = 64;

/** UTF-8 length of `s`; equals `s.length` exactly when `s` is ASCII. */
function utf8Length(s: string): number {
  if (s.length > SHORT) return Buffer.byteLength(s);
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s);
  return s.length;
}

/** Bytes a length-delimited field with a one-byte tag takes for a payload of `n` bytes. */
function delimited(n: number): number {
  return 1 + varintSize(n) + n;
}

class Sizer {
  readonly sizes: number[] = [];

  private slot(): number {
    return this.sizes.push(0) - 1;
  }

  struct(obj: Record<string, unknown>): number {
    const s = this.slot();
    let n = 0;
    for (const key of Object.keys(obj)) n += delimited(this.entry(key, obj[key]));
    return (this.sizes[s] = n);
  }

  private entry(key: string, v: unknown): number {
    const s = this.slot();
    return (this.sizes[s] = delimited(utf8Length(key)) + delimited(this.value(v)));
  }

  private value(v: unknown): number {
    const s = this.slot();
    let n: number;
    if (v === null || typeof v === "boolean") n = 2;
    else if (typeof v === "number") n = 9;
    else if (typeof v === "string") n = delimited(utf8Length(v));
    else if (Array.isArray(v)) n = delimited(this.list(v));
    else if (typeof v === "object") n = delimited(this.struct(v as Record<string, unknown>));
    else if (v === undefined) n = 0;
    else throw new Error(`cannot encode a ${typeof v} as a protobuf Value`);
    return (this.sizes[s] = n);
  }

  private list(items: unknown[]): number {
    const s = this.slot();
    let n = 0;
    for (const item of items) n += delimited(this.value(item));
    return (this.sizes[s] = n);
  }

  resource(r: Resource): number {
    const s = this.slot();
    let n = 0;
    if (r.resource !== undefined) n += delimited(this.struct(r.resource));
    for (const [key, bytes] of Object.entries(r.connectionDetails)) {
      const e = this.slot();
      n += delimited((this.sizes[e] = delimited(utf8Length(key)) + delimited(bytes.length)));
    }
    if (r.ready !== Ready.READY_UNSPECIFIED) n += 1 + varintSize(r.ready);
    return (this.sizes[s] = n);
  }

  state(st: State): number {
    const s = this.slot();
    let n = 0;
    if (st.composite) n += delimited(this.resource(st.composite));
    for (const [name, r] of Object.entries(st.resources)) {
      const e = this.slot();
      n += delimited((this.sizes[e] = delimited(utf8Length(name)) + delimited(this.resource(r))));
    }
    return (this.sizes[s] = n);
  }
}

class Writer {
  private pos: number;
  private next = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly sizes: number[],
    start: number,
  ) {
    this.pos = start;
  }

  get end(): number {
    return this.pos;
  }

  /** Writes the length prefix of the next message, from the size table. */
  private length(): void {
    const n = this.sizes[this.next++];
    if (n === undefined) throw new Error("wire: size table exhausted");
    this.varint(n);
  }

  private varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  private string(tag: number, s: string): void {
    this.buf[this.pos++] = tag;
    const n = utf8Length(s);
    this.varint(n);
    if (n === s.length && n <= SHORT) {
      for (let i = 0; i < n; i++) this.buf[this.pos++] = s.charCodeAt(i);
    } else {
      this.pos += this.buf.write(s, this.pos, "utf8");
    }
  }

  struct(obj: Record<string, unknown>): void {
    this.length();
    for (const key of Object.keys(obj)) {
      this.buf[this.pos++] = LEN1;
      this.length();
      this.string(LEN1, key);
      this.buf[this.pos++] = LEN2;
      this.value(obj[key]);
    }
  }

  private value(v: unknown): void {
    this.length();
    if (v === null) {
      this.buf[this.pos++] = V_NULL;
      this.buf[this.pos++] = 0;
    } else if (typeof v === "boolean") {
      this.buf[this.pos++] = V_BOOL;
      this.buf[this.pos++] = v ? 1 : 0;
    } else if (typeof v === "number") {
      this.buf[this.pos++] = V_NUMBER;
      this.pos = this.buf.writeDoubleLE(v, this.pos);
    } else if (typeof v === "string") {
      this.string(V_STRING, v);
    } else if (Array.isArray(v)) {
      this.buf[this.pos++] = V_LIST;
      this.length();
      for (const item of v) {
        this.buf[this.pos++] = LEN1;
        this.value(item);
      }
    } else if (typeof v === "object") {
      this.buf[this.pos++] = V_STRUCT;
      this.struct(v as Record<string, unknown>);
    }
  }

  resource(r: Resource): void {
    this.length();
    if (r.resource !== undefined) {
      this.buf[this.pos++] = LEN1;
      this.struct(r.resource);
    }
    for (const [key, bytes] of Object.entries(r.connectionDetails)) {
      this.buf[this.pos++] = LEN2;
      this.length();
      this.string(LEN1, key);
      this.buf[this.pos++] = LEN2;
      this.varint(bytes.length);
      this.buf.set(bytes, this.pos);
      this.pos += bytes.length;
    }
    if (r.ready !== Ready.READY_UNSPECIFIED) {
      this.buf[this.pos++] = VARINT3;
      this.varint(r.ready);
    }
  }

  state(st: State): void {
    this.length();
    if (st.composite) {
      this.buf[this.pos++] = LEN1;
      this.resource(st.composite);
    }
    for (const [name, r] of Object.entries(st.resources)) {
      this.buf[this.pos++] = LEN2;
      this.length();
      this.string(LEN1, name);
      this.buf[this.pos++] = LEN2;
      this.resource(r);
    }
  }
}

export function encodeResponse(rsp: RunFunctionResponse): Buffer {
  const head = RunFunctionResponse.encode({ ...rsp, desired: undefined }).finish();
  if (!rsp.desired) return Buffer.from(head);
  const sizer = new Sizer();
  const stateSize = sizer.state(rsp.desired);
  const buf = Buffer.allocUnsafe(head.length + delimited(stateSize));
  buf.set(head, 0);
  // RunFunctionResponse.desired is field 2.
  buf[head.length] = LEN2;
  const w = new Writer(buf, sizer.sizes, head.length + 1);
  w.state(rsp.desired);
  if (w.end !== buf.length) throw new Error(`wire: wrote ${w.end} of ${buf.length} bytes`);
  return buf;
}
