/** The project's APIs: generated types, schemas and validators. */
export type * from "./generated/types.generated.ts";
export { groups, managedKinds, ownedConfigKeys, schemas } from "./generated/schemas.generated.ts";
export { connectionSecretKeys } from "./connection.ts";
export { volumeAnnotations } from "./kept-volumes.ts";
export { allowDeleteAnnotation, anchorLabel } from "./anchor.ts";
export { annotations, finalizers, labels, objectName, shortHash } from "./labels.ts";
export { kafkaApiVersion } from "./strimzi.ts";
export type { SchemaName } from "./generated/schemas.generated.ts";
export {
  validate,
  withDefaults,
  schemaDefault,
  formatErrors,
  fieldPath,
  type FieldError,
  type ValidationResult,
} from "./validation.ts";
