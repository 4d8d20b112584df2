/**
 * What the development bed asks a running Kafka with Kafka's own tools (run
 * as clients inside a simulated cluster).
 */
import type { KafkaNodes } from "./stretch-bed.ts";

/** A Java properties text (server.config) as a map; the first `=` splits key from value. */
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0 && !line.startsWith("#")) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** Anything that runs Kafka's tools inside a cluster and knows its brokers. */
export type KafkaTools = Pick<KafkaNodes, "tool"> & { bootstrap(cluster: string): string };

export interface QuorumStatus {
  leaderId: number;
  voters: { id: number; directoryId?: string }[];
  observers: number[];
}

/** The metadata quorum as the admin client describes it, asked from `cluster`. */
export async function quorumStatus(bed: KafkaTools, cluster: string): Promise<QuorumStatus> {
  const { stdout } = await bed.tool(cluster, "org.apache.kafka.tools.MetadataQuorumCommand", [
    "--bootstrap-server",
    bed.bootstrap(cluster),
    "describe",
    "--status",
  ]);
  const field = (name: string): string => {
    const m = new RegExp(`^${name}:\\s+(.*)$`, "m").exec(stdout);
    if (!m?.[1]) throw new Error(`no ${name} in:\n${stdout}`);
    return m[1];
  };
  const voters = JSON.parse(field("CurrentVoters")) as { id: number; directoryId?: string }[];
  const observers = JSON.parse(field("CurrentObservers")) as { id: number }[];
  return {
    leaderId: Number(field("LeaderId")),
    voters: voters.map((v) => ({
      id: v.id,
      ...(v.directoryId ? { directoryId: v.directoryId } : {}),
    })),
    observers: observers.map((o) => o.id).sort((a, b) => a - b),
  };
}
