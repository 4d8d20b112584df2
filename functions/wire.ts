/**
 * Encodes RunFunctionResponse for the wire, fast. ts-proto wraps every JSON
 * value of every composed resource into Struct/Value message objects before
 * writing them, which was most of a call's cost and garbage. This writes the
 * desired state (nearly all of a response) straight from the plain objects
 * and lets ts-proto encode the small rest (test/unit/wire.test.ts: the result
 * decodes to the same message).
 *
 * One pass, back to front: a message's content is written before its length
 * prefix, so every length is known when it is written and nothing is sized
 * twice. Lists are walked last item first to keep their order; a Struct's
 * fields and the resources map come out in reverse key order, which protobuf
 * allows for map entries (the output is still the same bytes for the same
 * response).
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

/** Strings up to this length are copied here rather than handed to C++, which costs more than the copy. */
const SHORT = 64;
/** Room for a tag, a varint length and a fixed64: what any step writes besides string bytes. */
const SLACK = 16;
/** The scratch buffer is kept between calls up to this size; a larger one is dropped after its call. */
const KEEP = 4 * 1024 * 1024;

/** Reused between calls (encoding is synchronous): most responses need no allocation but their own. */
let scratch: Buffer = Buffer.allocUnsafe(256 * 1024);

class BackWriter {
  /** Bytes written so far occupy buf[pos, buf.length). */
  private pos: number;

  constructor(private buf: Buffer) {
    this.pos = buf.length;
  }

  /** Bytes written so far; stays valid when the buffer grows. */
  get written(): number {
    return this.buf.length - this.pos;
  }

  /** The bytes written, as a buffer of their own. */
  result(): Buffer {
    const out = Buffer.allocUnsafe(this.written);
    this.buf.copy(out, 0, this.pos);
    if (this.buf.length <= KEEP) scratch = this.buf;
    return out;
  }

  private room(n: number): void {
    if (this.pos >= n) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.written + n + SLACK));
    const at = grown.length - this.written;
    this.buf.copy(grown, at, this.pos);
    this.buf = grown;
    this.pos = at;
  }

  private byte(b: number): void {
    this.buf[--this.pos] = b;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length + SLACK);
    this.pos -= b.length;
    this.buf.set(b, this.pos);
  }

  /** A varint; the caller has made room. */
  private varint(n: number): void {
    let size = 1;
    for (let m = n; m >= 0x80; m = Math.floor(m / 128)) size++;
    let at = (this.pos -= size);
    while (n >= 0x80) {
      this.buf[at++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[at] = n;
  }

  /** Closes a length-delimited field whose content began at `mark` (a `written` value). */
  private close(tag: number, mark: number): void {
    this.room(SLACK);
    this.varint(this.written - mark);
    this.byte(tag);
  }

  private string(tag: number, s: string): void {
    const n = s.length;
    if (n <= SHORT) {
      this.room(n + SLACK);
      const end = this.pos;
      let i = n;
      while (i > 0) {
        const c = s.charCodeAt(--i);
        if (c >= 0x80) break;
        this.buf[--this.pos] = c;
      }
      if (this.pos === end - n) {
        this.varint(n);
        this.byte(tag);
        return;
      }
      this.pos = end; // not ASCII: start over as UTF-8
    }
    const len = Buffer.byteLength(s, "utf8");
    this.room(len + SLACK);
    this.pos -= len;
    this.buf.write(s, this.pos, len, "utf8");
    this.varint(len);
    this.byte(tag);
  }

  /** A google.protobuf.Struct's content. */
  struct(obj: Record<string, unknown>): void {
    for (const key in obj) {
      // An entry: key (field 1) and value (field 2), both begun at `entry`'s mark.
      const entry = this.written;
      this.value(obj[key]);
      this.close(LEN2, entry);
      this.string(LEN1, key);
      this.close(LEN1, entry);
    }
  }

  /** A google.protobuf.Value's content. */
  private value(v: unknown): void {
    this.room(SLACK);
    if (v === null) {
      this.byte(0);
      this.byte(V_NULL);
    } else if (typeof v === "string") {
      this.string(V_STRING, v);
    } else if (typeof v === "object") {
      const mark = this.written;
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) {
          const item = this.written;
          this.value(v[i]);
          this.close(LEN1, item);
        }
        this.close(V_LIST, mark);
      } else {
        this.struct(v as Record<string, unknown>);
        this.close(V_STRUCT, mark);
      }
    } else if (typeof v === "number") {
      this.pos -= 8;
      this.buf.writeDoubleLE(v, this.pos);
      this.byte(V_NUMBER);
    } else if (typeof v === "boolean") {
      this.byte(v ? 1 : 0);
      this.byte(V_BOOL);
    } else if (v !== undefined) {
      throw new Error(`cannot encode a ${typeof v} as a protobuf Value`);
    }
  }

  /** A Resource's content. */
  resource(r: Resource): void {
    if (r.ready !== Ready.READY_UNSPECIFIED) {
      this.room(SLACK);
      this.varint(r.ready);
      this.byte(VARINT3);
    }
    const details = Object.keys(r.connectionDetails);
    for (let i = details.length - 1; i >= 0; i--) {
      const key = details[i] as string;
      const bytes = r.connectionDetails[key] as Buffer;
      const entry = this.written;
      this.bytes(bytes);
      this.close(LEN2, entry);
      this.string(LEN1, key);
      this.close(LEN2, entry);
    }
    if (r.resource !== undefined) {
      const mark = this.written;
      this.struct(r.resource);
      this.close(LEN1, mark);
    }
  }

  /** A State's content. */
  state(st: State): void {
    for (const name in st.resources) {
      const entry = this.written;
      this.resource(st.resources[name] as Resource);
      this.close(LEN2, entry);
      this.string(LEN1, name);
      this.close(LEN2, entry);
    }
    if (st.composite) {
      const mark = this.written;
      this.resource(st.composite);
      this.close(LEN1, mark);
    }
  }

  /** Closes the message written so far as field `tag`. */
  field(tag: number): void {
    this.close(tag, 0);
  }
}

export function encodeResponse(rsp: RunFunctionResponse): Buffer {
  const head = RunFunctionResponse.encode({ ...rsp, desired: undefined }).finish();
  if (!rsp.desired) return Buffer.from(head);
  const w = new BackWriter(scratch);
  w.state(rsp.desired);
  // RunFunctionResponse.desired is field 2.
  w.field(LEN2);
  w.bytes(head);
  return w.result();
}
