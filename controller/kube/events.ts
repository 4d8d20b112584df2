/**
 * Kubernetes Events for what a controller did to an object (kubectl describe
 * shows them). Events of cluster-scoped objects live in "default", as
 * client-go's recorder puts them. Failing to record an event never fails the
 * reconcile that caused it.
 */
import type { Logger } from "pino";
import type { DynamicClient, KubeObject, KubeResource } from "./dynamic.ts";
import { describeError } from "./errors.ts";

export type EventType = "Normal" | "Warning";

/** How long a repeat of the same event counts up the first one (client-go: 10 minutes). */
const aggregateMs = 10 * 60_000;
/** Events remembered for counting up (oldest forgotten first). */
const remembered = 4096;

export class EventRecorder {
  /** The Event object each recent event went to, by what makes it the same event. */
  private readonly recent = new Map<string, { name: string; count: number; at: number }>();

  constructor(
    private readonly client: DynamicClient,
    private readonly component: string,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Records an event; the same event again (same object, type, reason and
   * message) within 10 minutes counts up the first one, as client-go's
   * correlator does, so a reconcile repeating itself adds no objects.
   */
  async record(obj: KubeResource, type: EventType, reason: string, message: string): Promise<void> {
    const at = this.now()
      .toISOString()
      .replace(/\.\d+Z$/, "Z");
    const namespace = obj.metadata.namespace ?? "default";
    const key = JSON.stringify([
      obj.kind,
      namespace,
      obj.metadata.name,
      obj.metadata.uid,
      type,
      reason,
      message,
    ]);
    const seen = this.recent.get(key);
    try {
      if (seen && this.now().getTime() - seen.at < aggregateMs) {
        const count = seen.count + 1;
        await this.client.mergePatch("v1", "Event", seen.name, namespace, {
          count,
          lastTimestamp: at,
        });
        this.recent.delete(key);
        this.recent.set(key, { ...seen, count });
        return;
      }
    } catch (err) {
      // Gone (expired, deleted): a new one below.
      this.log.debug({ err: describeError(err), reason }, "cannot count up an event");
    }
    try {
      const created = await this.client.create<KubeObject>({
        apiVersion: "v1",
        kind: "Event",
        metadata: {
          generateName: `${obj.metadata.name ?? "object"}.`,
          namespace: obj.metadata.namespace ?? "default",
        },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
          ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: this.component },
        reportingComponent: this.component,
        firstTimestamp: at,
        lastTimestamp: at,
        count: 1,
      });
      this.recent.delete(key);
      this.recent.set(key, {
        name: created.metadata.name ?? "",
        count: 1,
        at: this.now().getTime(),
      });
      if (this.recent.size > remembered) {
        const oldest = this.recent.keys().next().value;
        if (oldest !== undefined) this.recent.delete(oldest);
      }
    } catch (err) {
      this.log.warn({ err: describeError(err), reason }, "cannot record an event");
    }
  }
}
