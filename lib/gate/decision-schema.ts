import { z } from 'zod';
import { scopeValues } from '../config/schema';
import { isoTime } from '../report/document-schema';

/**
 * The gate's decision as data: journaled with its episode and copied into the report, so its shape
 * is a schema and the types (lib/gate/gate.ts re-exports them) are derived from it.
 */

export const gateSources = ['loxilb-api', 'static', 'override', 'cli', 'fallback'] as const;
export type GateSource = (typeof gateSources)[number];

/** One peer as the gate weighed it (reported, so an operator sees who was expected to take over). */
export const PeerVerdictSchema = z.object({
  /** BFD remote IP (BFD mode). */
  ip: z.string().optional(),
  instanceId: z.string().optional(),
  /** loxilb's BFD session state for it (BFD mode). */
  bfdState: z.string().optional(),
  instanceState: z.string().optional(),
  asgLifecycleState: z.string().optional(),
  spotStatusCode: z.string().optional(),
  /** Can it still take over (or keep) the VIP network? */
  alive: z.boolean(),
  why: z.string(),
});
export type PeerVerdict = z.infer<typeof PeerVerdictSchema>;

/** How the wait for a promoted node's own takeover ended (lib/gate/own-takeover.ts). */
export const takeoverSettledValues = ['complete', 'quiet', 'timeout'] as const;
export type TakeoverSettled = (typeof takeoverSettledValues)[number];

export const GateDecisionSchema = z.object({
  scope: z.enum(scopeValues),
  reason: z.string(),
  source: z.enum(gateSources),
  /** The peers weighed (BFD peers or cluster members), alive or not. */
  peers: z.array(PeerVerdictSchema).optional(),
  /** The loxilb observation the decision used. */
  observation: z.object({ observedAt: isoTime, ageMs: z.number(), live: z.boolean() }).optional(),
  /**
   * `handover` of a node that is not the MASTER: a stale loxilb ENI still attached here may be
   * removed under its own name once the MASTER's own loxilb ENI exists (lib/gate/stale-eni.ts).
   */
  staleEni: z.boolean().optional(),
  /**
   * This node became MASTER recently (the observer saw it promoted): its own loxilb takeover may
   * still be running, and a `full` teardown waits for it (lib/gate/own-takeover.ts).
   */
  takeover: z
    .object({
      promotedAt: isoTime,
      /** How the wait ended: `complete` (own ENI, no other), `quiet` (nothing changed), `timeout`. */
      settled: z.enum(takeoverSettledValues).optional(),
      waitedMs: z.number().optional(),
      /** What AWS showed last. */
      seen: z.string().optional(),
    })
    .optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type GateDecision = z.infer<typeof GateDecisionSchema>;
