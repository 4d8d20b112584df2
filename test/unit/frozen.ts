/**
 * A deep freeze for the function's requests: every object and array of a
 * request made read-only, so a function that writes into what it was given
 * (an informer's cache, in the standalone engine) throws instead.
 */
import { compose } from "../../functions/stretch-kafka/compose.ts";
import type {
  RunFunctionRequest,
  RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";

export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  // A Buffer's bytes cannot be frozen (and the function never writes them).
  if (ArrayBuffer.isView(value)) return value;
  for (const v of Object.values(value as object)) deepFreeze(v);
  return Object.freeze(value);
}

/** The function, on its request frozen first: a write into the request throws. */
export function composeFrozen(req: RunFunctionRequest): RunFunctionResponse {
  return compose(deepFreeze(req));
}
