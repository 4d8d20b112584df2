/**
 * Claims (StretchKafka) bind to composites (XStretchKafka) as Crossplane binds
 * legacy claims: the claim's spec copied to the composite, references both
 * ways, the claim-name/claim-namespace labels; status and the connection
 * Secret flow back to the claim (Crossplane's own claim/ package).
 */
import pick from "lodash/pick.js";
import { connectionSecretKeys, labels } from "../../apis/index.ts";
import { claimNameLabel, claimNamespaceLabel, compositeLabel } from "../../functions/render.ts";
import { KubeApiError } from "../kube/dynamic.ts";
import { describeError } from "../kube/errors.ts";
import { objectKey } from "../kube/informer.ts";
import { covers } from "../provider/desired.ts";
import type { ReconcileResult } from "../runtime/workqueue.ts";
import {
  claimFinalizer,
  compositeNameFor,
  controllerRef,
  defaultPollSeconds,
  digest,
  fmClaim,
  stamped,
  synced,
  isPaused,
  paused,
  xrApiVersion,
  type Claim,
  type Composite,
  type EngineContext,
  type Status,
} from "./context.ts";

export class ClaimReconciler {
  /**
   * When each claim's connection Secret was last written, by claim uid. The
   * claim from the watch cache may not show the status written a moment ago,
   * and an apply without the field would take it away again.
   */
  private readonly published = new Map<string, string>();

  constructor(private readonly ctx: EngineContext) {}

  async reconcile(ns: string, name: string): Promise<ReconcileResult> {
    const claim = this.ctx.claims.get(`${ns}/${name}`);
    if (!claim) return undefined;
    const xrName = claim.spec.resourceRef?.name ?? compositeNameFor(claim);
    const xr = this.ctx.composites.get(xrName);
    if (claim.metadata.deletionTimestamp) return this.deleteClaim(claim, xrName, xr);
    // Not bound, not copied to its composite; the status says so (as Crossplane).
    if (isPaused(claim)) return this.claimStatus(claim, xr, paused);

    if (!claim.metadata.finalizers?.includes(claimFinalizer)) {
      await this.ctx.ensureFinalizer(claim, claimFinalizer);
      return undefined; // the update event brings the claim back
    }
    if (!claim.spec.resourceRef) {
      // Recorded before the composite exists, so a crash in between binds the same name.
      await this.ctx.patchMeta(
        claim,
        {},
        {
          resourceRef: { apiVersion: xrApiVersion, kind: "XStretchKafka", name: xrName },
        },
      );
      return undefined; // the update event brings the claim back
    }
    // As Crossplane: the claim names the Composition its composite was given.
    const chosen = xr?.spec.compositionRef?.name;
    if (chosen && !claim.spec.compositionRef) {
      await this.ctx.patchMeta(claim, {}, { compositionRef: { name: chosen } });
      return undefined; // the update event brings the claim back
    }
    const boundElsewhere =
      xr?.spec.claimRef && (xr.spec.claimRef.name !== name || xr.spec.claimRef.namespace !== ns);
    if (boundElsewhere) {
      return this.claimStatus(
        claim,
        xr,
        `composite ${xrName} is bound to claim ${xr.spec.claimRef?.namespace ?? ""}/${xr.spec.claimRef?.name ?? ""}; remove spec.resourceRef from this claim to get a composite of its own`,
      );
    }
    // Bound before this reconcile, and said so: a reconcile that bound the
    // composite but failed before the claim's status was written (a timeout
    // after the apply) still gets its binding event next time.
    const bound =
      xr?.spec.claimRef?.name === name &&
      xr.spec.claimRef.namespace === ns &&
      claim.status?.conditions?.some((c) => c.type === "Synced") === true;
    try {
      await this.applyComposite(claim, xrName);
    } catch (err) {
      // The API server refused the spec (e.g. a change the schema forbids): the
      // composite keeps what it had, and the claim says what to fix.
      if (err instanceof KubeApiError && err.code >= 400 && err.code < 500 && err.code !== 409) {
        const message = `cannot apply composite ${xrName}: ${describeError(err)}`;
        await this.ctx.events.record(claim, "Warning", "ConfigureCompositeError", message);
        return this.claimStatus(claim, xr, message);
      }
      throw err;
    }
    // Crossplane's claim events: the binding, and while the composite is not Ready.
    if (!bound)
      await this.ctx.events.record(
        claim,
        "Normal",
        "BindCompositeResource",
        "Successfully bound composite resource",
      );
    else if (xr.status?.conditions?.find((c) => c.type === "Ready")?.status !== "True")
      await this.ctx.events.record(
        claim,
        "Normal",
        "BindCompositeResource",
        "Composite resource is not yet ready",
      );
    const published = await this.claimConnectionSecret(claim, xr);
    const result = await this.claimStatus(claim, xr, true, published);
    // Without the Secrets' watch, the periodic pass puts a changed one back.
    return claim.spec.writeConnectionSecretToRef && !this.ctx.secretsWatched()
      ? { requeueAfterMs: defaultPollSeconds * 1000 }
      : result;
  }

  private async applyComposite(claim: Claim, xrName: string): Promise<void> {
    const spec = { ...claim.spec };
    delete spec.resourceRef;
    delete spec.writeConnectionSecretToRef;
    delete spec.compositeDeletePolicy;
    const ns = claim.metadata.namespace ?? "";
    const xr = {
      apiVersion: xrApiVersion,
      kind: "XStretchKafka",
      metadata: {
        name: xrName,
        labels: {
          [compositeLabel]: xrName,
          [claimNameLabel]: claim.metadata.name ?? "",
          [claimNamespaceLabel]: ns,
        },
      },
      spec: {
        ...spec,
        claimRef: {
          apiVersion: claim.apiVersion,
          kind: claim.kind,
          name: claim.metadata.name ?? "",
          namespace: ns,
        },
        writeConnectionSecretToRef: {
          name: claim.metadata.uid ?? "",
          namespace: this.ctx.connectionNamespace(spec.compositionRef?.name),
        },
      },
    };
    const id = `XStretchKafka/${xrName}`;
    const d = digest(xr);
    const existing = this.ctx.composites.get(xrName);
    // Level-based: a hand edit of what the claim sets is put back.
    if (existing && covers(existing, xr) && this.ctx.unchanged(id, d)) return;
    await this.ctx.central.apply(xr, { fieldManager: fmClaim });
    this.ctx.mark(id, d);
  }

  /** The claim's status: the composite's, with the claim's own Synced condition. */
  private async claimStatus(
    claim: Claim,
    xr: Composite | undefined,
    ok: true | string | typeof paused,
    published?: string,
  ): Promise<ReconcileResult> {
    const { conditions: xrConditions, ...fields } = xr?.status ?? {};
    // The claim is where its owners look: a composite that cannot be composed
    // makes the claim not Synced, with the composite's reason.
    const xrSynced = xrConditions?.find((c) => c.type === "Synced");
    const claimOk =
      ok === true && xrSynced?.status === "False"
        ? `composite ${xr?.metadata.name ?? ""}: ${xrSynced.message ?? xrSynced.reason}`
        : ok;
    const next = [
      synced(claimOk),
      ...(xrConditions ?? [])
        .filter((c) => c.type !== "Synced")
        .map(({ lastTransitionTime: _t, ...c }) => c),
    ];
    if (!xrConditions?.some((c) => c.type === "Ready"))
      next.push({
        type: "Ready",
        status: "False",
        reason: "Creating",
        message: "waiting for the composite to be composed",
      });
    const uid = claim.metadata.uid ?? "";
    if (published) this.published.set(uid, published);
    const lastPublishedTime =
      published ?? this.published.get(uid) ?? claim.status?.connectionDetails?.lastPublishedTime;
    const status: Status = {
      ...fields,
      ...(lastPublishedTime ? { connectionDetails: { lastPublishedTime } } : {}),
      conditions: stamped(next, claim.status?.conditions, this.ctx.now()),
    };
    if (digest(status) !== digest(claim.status ?? {})) {
      await this.ctx.central.apply(
        {
          apiVersion: claim.apiVersion,
          kind: claim.kind,
          metadata: { name: claim.metadata.name ?? "", namespace: claim.metadata.namespace ?? "" },
          status,
        },
        { fieldManager: fmClaim, subresource: "status" },
      );
    }
    // A paused claim comes back when the annotation goes (an update event).
    return ok === true || ok === paused ? undefined : { requeueAfterMs: defaultPollSeconds * 1000 };
  }

  /**
   * Copies the composite's connection Secret into the claim's namespace, owned
   * by the claim; returns when, if it wrote it now.
   */
  private async claimConnectionSecret(
    claim: Claim,
    xr: Composite | undefined,
  ): Promise<string | undefined> {
    const to = claim.spec.writeConnectionSecretToRef;
    // The composite's details as its last reconcile wrote them (that reconcile
    // queues the claim whenever they change): no read per claim reconcile.
    const details = xr ? this.ctx.connections.get(xr.metadata.name ?? "") : undefined;
    if (!to || !details) return undefined;
    // As Crossplane: only the keys the XRD publishes reach the claim.
    const data = pick(details, connectionSecretKeys);
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      type: "connection.crossplane.io/v1alpha1",
      metadata: {
        name: to.name,
        namespace: claim.metadata.namespace ?? "",
        labels: {
          [claimNameLabel]: claim.metadata.name ?? "",
          [claimNamespaceLabel]: claim.metadata.namespace ?? "",
          [labels.connectionSecret]: "claim",
        },
        ownerReferences: [controllerRef(claim)],
      },
      data,
    };
    const changed = await this.ctx.applySecret(secret, fmClaim, digest(secret));
    return changed ? this.ctx.now() : undefined;
  }

  private async deleteClaim(
    claim: Claim,
    xrName: string,
    cached: Composite | undefined,
  ): Promise<ReconcileResult> {
    this.published.delete(claim.metadata.uid ?? "");
    const foreground = claim.spec.compositeDeletePolicy === "Foreground";
    // Not in the cache may only mean not seen yet: a composite left behind
    // would run on with no claim, so ask the API server before letting go.
    const xr =
      cached ?? (await this.ctx.central.find<Composite>(xrApiVersion, "XStretchKafka", xrName));
    if (xr) {
      if (!xr.metadata.deletionTimestamp) {
        await this.ctx.central.delete(xrApiVersion, "XStretchKafka", xrName, undefined, {
          propagationPolicy: foreground ? "Foreground" : "Background",
        });
        this.ctx.log.info(
          { claim: objectKey(claim), composite: xrName },
          "claim deleted: deleting its composite",
        );
      }
      // Foreground: the claim stays until its composite (and so every remote object) is gone.
      if (foreground) return { requeueAfterMs: 2000 };
    }
    await this.ctx.removeFinalizer(claim, claimFinalizer);
    return undefined;
  }
}
