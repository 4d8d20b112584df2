/**
 * Kafka requests the client library does not carry yet, written with its own
 * protocol layer (Writer, Reader, createAPI) from the message definitions in
 * Kafka's clients/src/main/resources/common/message/*.json:
 * DescribeCluster v2 (KIP-1073: fenced brokers too), so that a retired broker
 * still registered can be seen and unregistered only once fenced.
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
