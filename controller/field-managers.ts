/**
 * Every field manager stretch-kafka applies with, in one scheme:
 * `stretch-kafka-<part>`, then `/<detail>` where one part keeps several sets
 * of fields apart. A manager renamed would leave behind the fields its old
 * name owns (server-side apply removes only what the same manager stops
 * sending), so a name here does not change once released.
 */
export const fieldManagers = {
  /** The provider: remote objects, managed resources' status, ProviderConfigs, KafkaTopics and KafkaUsers. */
  provider: "stretch-kafka-provider",
  /** The standalone engine: the composite a claim binds to, and the claim's status and connection Secret. */
  engineClaim: "stretch-kafka-engine/claim",
  /** The standalone engine: composed resources and the composite's status. */
  engineComposite: "stretch-kafka-engine/composite",
  /** `stretch-kafka register-cluster`: a remote cluster's identity, the ProviderConfig. */
  register: "stretch-kafka-register",
  /** A ProviderConfig's record of kept volumes (merge patches, controller/provider/kept-volumes.ts). */
  keptVolumes: "stretch-kafka-provider/kept-volumes",
} as const;
