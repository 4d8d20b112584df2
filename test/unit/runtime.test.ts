/**
 * The project runs on the current Node.js LTS: the images' bases, `engines`
 * and the runtime the test command chose agree.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const root = new URL("../../", import.meta.url);

test("every stage of the Dockerfile is built on a Node.js 24 base", () => {
  const froms = readFileSync(new URL("package/Dockerfile", root), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("FROM "))
    .map((l) => l.split(/\s+/)[1] ?? "");
  const nodeBases = froms.filter((image) => /node/.test(image));
  assert.ok(nodeBases.length >= 2, `expected a build and a runtime base, got ${froms.join(", ")}`);
  for (const image of nodeBases) assert.match(image, /(^node:24[-.]|\/nodejs24-)/, image);
});

test("engines admits Node.js 22.22+ and 24.6+ (the Kafka client's floor), not the end-of-life 20", () => {
  const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as {
    engines: { node: string };
  };
  const ranges = pkg.engines.node.split("||").map((r) => r.trim());
  const admits = (v: string): boolean =>
    ranges.some((r) => {
      const [maj, min] = v.split(".").map(Number);
      if (r.startsWith("^")) {
        const [rMaj, rMin] = r.slice(1).split(".").map(Number);
        return maj === rMaj && (min ?? 0) >= (rMin ?? 0);
      }
      if (r.startsWith(">=")) {
        const [rMaj, rMin] = r.slice(2).split(".").map(Number);
        return (maj ?? 0) > (rMaj ?? 0) || (maj === rMaj && (min ?? 0) >= (rMin ?? 0));
      }
      throw new Error(`unexpected engines range ${r}`);
    });
  assert.ok(admits("24.6.0") && admits("22.22.0") && admits("26.1.0"), pkg.engines.node);
  assert.ok(!admits("20.19.0") && !admits("22.21.0") && !admits("24.5.0"), pkg.engines.node);
});

test("the test command runs on Node.js 24 or newer", () => {
  assert.ok(Number(process.versions.node.split(".")[0]) >= 24, process.version);
});
