/** Small helpers several tests share. */
import {
  CaConflict,
  type CaMaterial,
  type CaStore,
  type Issuer,
} from "../controller/provider/pki.ts";

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
