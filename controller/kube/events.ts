/**
 * Kubernetes Events for what a controller did to an object (kubectl describe
 * shows them). Events of cluster-scoped objects live in "default", as
 * client-go's recorder puts them. Failing to record an event never fails the
 * reconcile that caused it.
 */
import type { Logger } from "pino";
import type { DynamicClient, KubeResource } from "./dynamic.ts";
import { describeError } from "./errors.ts";

export type EventType = "Normal" | "Warning";

export class EventRecorder {
  constructor(
    private readonly client: DynamicClient,
    private readonly component: string,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(obj: KubeResource, type: EventType, reason: string, message: string): Promise<void> {
    const at = this.now()
      .toISOString()
      .replace(/\.\d+Z$/, "Z");
    try {
      await this.client.create({
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
    } catch (err) {
      this.log.warn({ err: describeError(err), reason }, "cannot record an event");
    }
  }
}
