/**
 * Leader election with a coordination.k8s.io Lease, the way client-go does it:
 * a candidate takes the lease when it is free or when its record has not
 * changed for a whole lease duration *as observed locally* (so clocks need not
 * agree), and the leader renews it; every write carries the resourceVersion it
 * read, so two candidates can never both win. A leader that cannot renew in
 * time stops leading (the process then exits and restarts as a candidate).
 */
import type { Logger } from "pino";
import type { DynamicClient, KubeObject } from "../kube/dynamic.ts";
import { describeError, kubeStatus } from "../kube/errors.ts";
import { realClock, type Clock } from "./workqueue.ts";

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** Kubernetes MicroTime. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private observed: { record: string; at: number } | undefined;

  constructor(
    private readonly client: DynamicClient,
    private readonly opts: LeaderOptions,
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** Read through a method: stop() flips it while run() awaits. */
  private halted(): boolean {
    return this.stopped;
  }

  private sleep(seconds: number): Promise<void> {
    return new Promise((resolve) => this.clock.after(seconds * 1000, resolve));
  }

  /** One attempt to take or renew the lease; true when we hold it afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const mine = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: this.opts.leaseDurationSeconds,
      renewTime: microTime(now),
    };
    const lease = await this.client.find<Lease>(
      "coordination.k8s.io/v1",
      "Lease",
      this.opts.name,
      this.opts.namespace,
    );
    if (!lease) {
      await this.client.create<Lease>({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: { ...mine, acquireTime: microTime(now), leaseTransitions: 0 },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime]);
    if (this.observed?.record !== record) this.observed = { record, at: now };
    const held = spec.holderIdentity === this.opts.identity;
    const duration = (spec.leaseDurationSeconds ?? this.opts.leaseDurationSeconds) * 1000;
    const expired = !spec.holderIdentity || now - this.observed.at > duration;
    if (!held && !expired) return false;
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        ...mine,
        ...(held
          ? {}
          : { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    await this.client.replace(next);
    this.observed = {
      record: JSON.stringify([next.spec?.holderIdentity, next.spec?.renewTime]),
      at: now,
    };
    return true;
  }

  /**
   * Campaigns until it leads, then calls lead(), renews until it cannot, and
   * then calls lost(). Resolves when stop() is called or leadership is lost.
   */
  async run(lead: () => Promise<void>, lost: () => void): Promise<void> {
    while (!this.halted() && !this.leading) {
      try {
        if (await this.tryAcquireOrRenew()) {
          this.leading = true;
          this.log.info(
            { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity },
            "became the leader",
          );
          break;
        }
      } catch (err) {
        if (kubeStatus(err)?.code !== 409)
          this.log.warn({ err: describeError(err) }, "cannot take the lease; retrying");
      }
      await this.sleep(this.opts.retryPeriodSeconds);
    }
    if (this.halted()) return;
    await lead();
    let lastRenew = this.clock.now();
    while (!this.halted()) {
      await this.sleep(this.opts.retryPeriodSeconds);
      if (this.halted()) break;
      try {
        if (await this.tryAcquireOrRenew()) {
          lastRenew = this.clock.now();
          continue;
        }
      } catch (err) {
        this.log.warn({ err: describeError(err) }, "cannot renew the lease");
      }
      if (this.clock.now() - lastRenew > this.opts.renewDeadlineSeconds * 1000) {
        this.leading = false;
        this.log.error({ lease: `${this.opts.namespace}/${this.opts.name}` }, "lost the lease");
        lost();
        return;
      }
    }
  }

  /** Stops campaigning or renewing; a leader gives the lease up for a fast hand-over. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.client.find<Lease>(
        "coordination.k8s.io/v1",
        "Lease",
        this.opts.name,
        this.opts.namespace,
      );
      if (lease?.spec?.holderIdentity === this.opts.identity) {
        const { holderIdentity: _released, ...rest } = lease.spec;
        await this.client.replace<Lease>({ ...lease, spec: { ...rest, leaseDurationSeconds: 1 } });
      }
    } catch (err) {
      this.log.warn(
        { err: describeError(err) },
        "cannot release the lease; the next leader waits for it to expire",
      );
    }
  }
}
