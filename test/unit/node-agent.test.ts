/**
 * The node agent's one piece of text surgery: a pod's paths (the image's and
 * its mounts') are put below the pod's directory, and nothing else changes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { pathRewriter } from "../../devbed/kafka/node-agent.ts";

const rewrite = pathRewriter("/pods/p1", [
  "/var/lib/kafka/data-0",
  "/opt/kafka/custom-config/",
  "/var/opt/stretch-kafka",
]);

test("mount paths and the image's paths move below the pod's directory", () => {
  assert.equal(
    rewrite("log.dirs=/var/lib/kafka/data-0/kafka-log0,/var/lib/kafka/data-0/x"),
    "log.dirs=/pods/p1/var/lib/kafka/data-0/kafka-log0,/pods/p1/var/lib/kafka/data-0/x",
  );
  assert.equal(
    rewrite('cp "$KAFKA_HOME/custom-config/server.config" /tmp/strimzi.properties'),
    'cp "$KAFKA_HOME/custom-config/server.config" /pods/p1/tmp/strimzi.properties',
  );
  assert.equal(
    rewrite("exec /opt/kafka/bin/kafka-storage.sh"),
    "exec /pods/p1/opt/kafka/bin/kafka-storage.sh",
  );
  assert.equal(
    rewrite("home=/var/opt/stretch-kafka/home"),
    "home=/pods/p1/var/opt/stretch-kafka/home",
  );
});

test("what only looks like a path is left alone", () => {
  for (const text of [
    "listeners=CONTROLPLANE-9090://0.0.0.0:9090",
    "ssl.keystore.location=${strimzisecrets:kafka/proof-brokers-0:proof-brokers-0.crt}",
    "a=/var/lib/kafka/data-01/other",
    "b=/opt/kafkaesque",
    "c=/tmpfs",
  ]) {
    assert.equal(rewrite(text), text);
  }
});
