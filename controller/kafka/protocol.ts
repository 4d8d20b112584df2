/**
 * Kafka requests the client library does not carry yet, written with its own
 * protocol layer (Writer, Reader, createAPI) from the message definitions in
 * Kafka's clients/src/main/resources/common/message/*.json:
 * DescribeCluster v2 (KIP-1073: fenced brokers too), so that a retired broker
 * still registered can be seen and unregistered only once fenced; AddRaftVoter
 * and RemoveRaftVoter (KIP-853), to change a dynamic quorum's voters;
 * ElectLeaders, to move leadership to preferred replicas.
 */
import { createAPI, ResponseError, Writer, type Reader } from "@platformatic/kafka";

export interface DescribedBroker {
  brokerId: number;
  host: string;
  port: number;
  rack: string | null;
  isFenced: boolean;
}

export interface DescribeClusterV2Response {
  errorCode: number;
  errorMessage: string | null;
  clusterId: string;
  controllerId: number;
  brokers: DescribedBroker[];
}

/*
  DescribeCluster Request (Version: 2) => include_cluster_authorized_operations endpoint_type include_fenced_brokers TAG_BUFFER
*/
function describeClusterRequest(includeFenced: boolean): Writer {
  return Writer.create()
    .appendBoolean(false)
    .appendInt8(1) // brokers
    .appendBoolean(includeFenced)
    .appendTaggedFields();
}

/*
  DescribeCluster Response (Version: 2) => throttle_time_ms error_code error_message endpoint_type
    cluster_id controller_id [brokers] cluster_authorized_operations TAG_BUFFER
    brokers => broker_id host port rack is_fenced TAG_BUFFER
*/
function describeClusterResponse(
  _correlationId: number,
  apiKey: number,
  apiVersion: number,
  reader: Reader,
): DescribeClusterV2Response {
  reader.readInt32();
  const errorCode = reader.readInt16();
  const errorMessage = reader.readNullableString();
  reader.readInt8();
  const clusterId = reader.readString();
  const controllerId = reader.readInt32();
  const brokers = reader.readArray((r) => ({
    brokerId: r.readInt32(),
    host: r.readString(),
    port: r.readInt32(),
    rack: r.readNullableString(),
    isFenced: r.readBoolean(),
  }));
  reader.readInt32();
  reader.readTaggedFields();
  const response = { errorCode, errorMessage, clusterId, controllerId, brokers };
  if (errorCode !== 0)
    throw new ResponseError(apiKey, apiVersion, { "/": [errorCode, errorMessage] }, response);
  return response;
}

export const describeClusterV2 = createAPI<[includeFenced: boolean], DescribeClusterV2Response>(
  60,
  2,
  describeClusterRequest,
  describeClusterResponse,
);

export interface RaftVoterResponse {
  errorCode: number;
  errorMessage: string | null;
}

function raftVoterResponse(
  _correlationId: number,
  apiKey: number,
  apiVersion: number,
  reader: Reader,
): RaftVoterResponse {
  reader.readInt32();
  const errorCode = reader.readInt16();
  const errorMessage = reader.readNullableString();
  reader.readTaggedFields();
  const response = { errorCode, errorMessage };
  if (errorCode !== 0)
    throw new ResponseError(apiKey, apiVersion, { "/": [errorCode, errorMessage] }, response);
  return response;
}

export interface VoterListener {
  name: string;
  host: string;
  port: number;
}

/*
  AddRaftVoter Request (Version: 0) => cluster_id timeout_ms voter_id voter_directory_id [listeners] TAG_BUFFER
    listeners => name host port(UINT16) TAG_BUFFER
  AddRaftVoter Response (Version: 0) => throttle_time_ms error_code error_message TAG_BUFFER
*/
export const addRaftVoterV0 = createAPI<
  [
    clusterId: string,
    timeoutMs: number,
    voterId: number,
    directoryId: string,
    listeners: VoterListener[],
  ],
  RaftVoterResponse
>(
  80,
  0,
  (
    clusterId: string,
    timeoutMs: number,
    voterId: number,
    directoryId: string,
    listeners: VoterListener[],
  ) =>
    Writer.create()
      .appendString(clusterId)
      .appendInt32(timeoutMs)
      .appendInt32(voterId)
      .appendUUID(directoryId)
      .appendArray(listeners, (w, l) => {
        w.appendString(l.name).appendString(l.host).appendUnsignedInt16(l.port);
      })
      .appendTaggedFields(),
  raftVoterResponse,
);

/*
  RemoveRaftVoter Request (Version: 0) => cluster_id voter_id voter_directory_id TAG_BUFFER
  RemoveRaftVoter Response (Version: 0) => throttle_time_ms error_code error_message TAG_BUFFER
*/
export const removeRaftVoterV0 = createAPI<
  [clusterId: string, voterId: number, directoryId: string],
  RaftVoterResponse
>(
  81,
  0,
  (clusterId: string, voterId: number, directoryId: string) =>
    Writer.create()
      .appendString(clusterId)
      .appendInt32(voterId)
      .appendUUID(directoryId)
      .appendTaggedFields(),
  raftVoterResponse,
);

export interface ElectLeadersResult {
  topic: string;
  partition: number;
  errorCode: number;
  errorMessage: string | null;
}

/*
  ElectLeaders Request (Version: 2) => election_type(INT8) [topic_partitions] timeout_ms TAG_BUFFER
    topic_partitions => topic [partitions(INT32)] TAG_BUFFER
  ElectLeaders Response (Version: 2) => throttle_time_ms error_code [replica_election_results] TAG_BUFFER
    replica_election_results => topic [partition_result] TAG_BUFFER
      partition_result => partition_id error_code error_message TAG_BUFFER
  Election type 0 is PREFERRED. Per-partition errors are returned, not thrown:
  ELECTION_NOT_NEEDED (84) is the usual answer for a partition already led by
  its preferred replica.
*/
export const electLeadersV2 = createAPI<
  [electionType: number, partitions: { topic: string; partitions: number[] }[], timeoutMs: number],
  { errorCode: number; results: ElectLeadersResult[] }
>(
  43,
  2,
  (
    electionType: number,
    partitions: { topic: string; partitions: number[] }[],
    timeoutMs: number,
  ) =>
    Writer.create()
      .appendInt8(electionType)
      .appendArray(partitions, (w, t) => {
        w.appendString(t.topic).appendArray(
          t.partitions,
          (w2, p) => w2.appendInt32(p),
          true,
          false,
        );
      })
      .appendInt32(timeoutMs)
      .appendTaggedFields(),
  (_correlationId: number, apiKey: number, apiVersion: number, reader: Reader) => {
    reader.readInt32();
    const errorCode = reader.readInt16();
    const results = reader
      .readArray((r) => {
        const topic = r.readString();
        return r.readArray((p) => ({
          topic,
          partition: p.readInt32(),
          errorCode: p.readInt16(),
          errorMessage: p.readNullableString(),
        }));
      })
      .flat();
    reader.readTaggedFields();
    if (errorCode !== 0)
      throw new ResponseError(
        apiKey,
        apiVersion,
        { "/": [errorCode, null] },
        { errorCode, results },
      );
    return { errorCode, results };
  },
);
