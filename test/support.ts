/** Small helpers several tests and the Kafka harness share. */
import {
  CaConflict,
  type CaMaterial,
  type CaStore,
  type Issuer,
} from "../controller/provider/pki.ts";

/** A Java properties text (server.config) as a map; the first `=` splits key from value. */
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0 && !line.startsWith("#")) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** The PKI's CA store in memory, with the Secret store's optimistic concurrency. */
export class MemoryCaStore implements CaStore {
  readonly cas = new Map<string, { ca: CaMaterial; version: string }>();
  writes = 0;
  load(
    authority: string,
    issuer: Issuer,
  ): Promise<{ ca: CaMaterial; version: string } | undefined> {
    return Promise.resolve(this.cas.get(`${authority}/${issuer}`));
  }
  save(
    authority: string,
    issuer: Issuer,
    ca: CaMaterial,
    version: string | undefined,
  ): Promise<void> {
    const key = `${authority}/${issuer}`;
    if (this.cas.get(key)?.version !== version)
      return Promise.reject(new CaConflict(`${key} was written by someone else`));
    this.writes++;
    this.cas.set(key, { ca, version: String(this.writes) });
    return Promise.resolve();
  }
}
