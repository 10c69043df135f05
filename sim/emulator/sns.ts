import { randomUUID } from 'node:crypto';
import { fields, members } from './autoscaling-xml';
import { EmulatorContext } from './context';
import { FilterScope, matchesFilter, parseFilterPolicy } from './sns-filter';
import { xmlEscape } from './render';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

/**
 * SNS over the Query protocol (Version 2010-03-31, as @aws-sdk/client-sns 3.1169.0 speaks it):
 * CreateTopic (idempotent), DeleteTopic, Subscribe / ConfirmSubscription / Unsubscribe,
 * Get/SetSubscriptionAttributes (RawMessageDelivery, FilterPolicy, FilterPolicyScope),
 * ListSubscriptionsByTopic / ListSubscriptions (100 a page, NextToken), Publish.
 *
 * Delivery to SQS is synchronous inside Publish and follows SNS: each subscription's filter policy
 * (sns-filter.ts) decides; the queue's policy must allow the topic to send (otherwise the message is
 * dropped and counted as a failed delivery, as SNS only logs it); raw delivery puts the message
 * itself in the queue, otherwise the SNS JSON envelope. The emulator has one account, and every
 * caller is in it: a caller subscribing a queue of its own account (the queue's owner) is confirmed
 * at once, as on SNS; a queue of another account is subscribed by the topic's owner, so it stays
 * `PendingConfirmation` until ConfirmSubscription with the token SNS sent to that queue in a
 * SubscriptionConfirmation message.
 * Subscribing the same endpoint again returns the existing ARN when the attributes are the same and
 * fails with InvalidParameter when they differ. A topic takes `filterPolicyLimit` (AWS default 200)
 * subscriptions with a filter policy; the next Subscribe / SetSubscriptionAttributes with one fails
 * with FilterPolicyLimitExceeded.
 *
 * Programmatic API (`emulator.sns`): createTopic(name) → arn; publish(topicArn, message,
 * {subject?, messageAttributes?}) → {messageId, deliveredTo}; subscriptions(topicArn?);
 * deliveries() (every delivery attempt, with the queue and the outcome); configure({filterPolicyLimit}).
 */
export interface SnsServiceOptions {
  accountId?: string;
  region?: string;
  filterPolicyLimit?: number;
}

/** Delivers a topic's message to an SQS queue by ARN (wired to the SQS emulator by the server). */
export type SqsDelivery = (
  queueArn: string,
  topicArn: string,
  body: string,
) => { messageId?: string; refused?: string };

export interface Subscription {
  arn: string;
  topicArn: string;
  protocol: string;
  endpoint: string;
  owner: string;
  confirmed: boolean;
  token?: string;
  attributes: Record<string, string>;
  /** Parsed FilterPolicy, when set. */
  filter?: Record<string, unknown>;
}

interface Topic {
  arn: string;
  name: string;
  attributes: Record<string, string>;
}

export interface DeliveryRecord {
  topicArn: string;
  subscriptionArn: string;
  endpoint: string;
  messageId: string;
  outcome: 'delivered' | 'filtered' | 'refused' | 'pending-confirmation';
  detail?: string;
}

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
const SUBSCRIBABLE_ATTRIBUTES = new Set([
  'RawMessageDelivery',
  'FilterPolicy',
  'FilterPolicyScope',
  'RedrivePolicy',
  'DeliveryPolicy',
  'SubscriptionRoleArn',
]);
const PAGE = 100;

/** `Name.entry.N.key` / `.value` pairs of a Query request (SNS maps). */
function entryMap(form: URLSearchParams, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 1; form.has(`${name}.entry.${i}.key`); i++) {
    out[form.get(`${name}.entry.${i}.key`)!] = form.get(`${name}.entry.${i}.value`) ?? '';
  }
  return out;
}

function required(form: URLSearchParams, name: string): string {
  const v = form.get(name);
  if (v === null || v === '') throw new EmulatorError('InvalidParameter', `Invalid parameter: ${name}`);
  return v;
}

function notFound(what: string): EmulatorError {
  return new EmulatorError('NotFound', `${what} does not exist`, 404);
}

export class SnsService implements ServiceHandler {
  readonly service = 'sns' as const;
  readonly accountId: string;
  readonly region: string;
  filterPolicyLimit: number;
  /** Set by the server: SQS delivery. */
  deliverToQueue: SqsDelivery = () => ({ refused: 'no SQS wired' });
  private readonly topics = new Map<string, Topic>();
  private readonly subs = new Map<string, Subscription>();
  private readonly log: DeliveryRecord[] = [];

  constructor(
    readonly ctx: EmulatorContext,
    options: SnsServiceOptions = {},
  ) {
    this.accountId = options.accountId ?? '123456789012';
    this.region = options.region ?? 'us-east-1';
    this.filterPolicyLimit = options.filterPolicyLimit ?? 200;
  }

  configure(input: { filterPolicyLimit?: number }): void {
    if (input.filterPolicyLimit !== undefined) this.filterPolicyLimit = input.filterPolicyLimit;
  }

  createTopic(name: string, attributes: Record<string, string> = {}): string {
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(name)) {
      throw new EmulatorError(
        'InvalidParameter',
        'Invalid parameter: Topic Name must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.',
      );
    }
    const arn = `arn:aws:sns:${this.region}:${this.accountId}:${name}`;
    if (!this.topics.has(arn)) this.topics.set(arn, { arn, name, attributes: { ...attributes } });
    return arn;
  }

  subscriptions(topicArn?: string): Subscription[] {
    return [...this.subs.values()]
      .filter((s) => topicArn === undefined || s.topicArn === topicArn)
      .map((s) => ({ ...s, attributes: { ...s.attributes } }));
  }

  deliveries(): DeliveryRecord[] {
    return [...this.log];
  }

  /** Publishes as the Publish action does; returns where it went. */
  publish(
    topicArn: string,
    message: string,
    opts: {
      subject?: string;
      messageAttributes?: Record<string, { DataType: string; StringValue?: string }>;
    } = {},
  ): { messageId: string; deliveredTo: string[] } {
    const topic = this.topic(topicArn);
    const messageId = randomUUID();
    const attributes = opts.messageAttributes ?? {};
    const deliveredTo: string[] = [];
    for (const sub of this.subs.values()) {
      if (sub.topicArn !== topic.arn || sub.protocol !== 'sqs') continue;
      const record = { topicArn: topic.arn, subscriptionArn: sub.arn, endpoint: sub.endpoint, messageId };
      if (!sub.confirmed) {
        this.log.push({ ...record, outcome: 'pending-confirmation' });
        continue;
      }
      const scope = (sub.attributes.FilterPolicyScope ?? 'MessageAttributes') as FilterScope;
      if (sub.filter && !matchesFilter(sub.filter, scope, { body: message, attributes })) {
        this.log.push({ ...record, outcome: 'filtered' });
        continue;
      }
      const body =
        sub.attributes.RawMessageDelivery === 'true'
          ? message
          : this.envelope(topic.arn, sub.arn, messageId, message, opts.subject, attributes);
      const result = this.deliverToQueue(sub.endpoint, topic.arn, body);
      if (result.refused) this.log.push({ ...record, outcome: 'refused', detail: result.refused });
      else {
        this.log.push({ ...record, outcome: 'delivered' });
        deliveredTo.push(sub.endpoint);
      }
    }
    return { messageId, deliveredTo };
  }

  handle(req: EmulatorRequest): EmulatorResponse {
    const f = req.form;
    switch (req.action) {
      case 'CreateTopic': {
        const arn = this.createTopic(required(f, 'Name'), entryMap(f, 'Attributes'));
        return this.xml('CreateTopic', fields([['TopicArn', arn]]));
      }
      case 'DeleteTopic': {
        const arn = required(f, 'TopicArn');
        this.topics.delete(arn);
        for (const s of [...this.subs.values()]) if (s.topicArn === arn) this.subs.delete(s.arn);
        return this.xml('DeleteTopic', '');
      }
      case 'Subscribe':
        return this.xml('Subscribe', fields([['SubscriptionArn', this.subscribe(f)]]));
      case 'ConfirmSubscription': {
        const topicArn = required(f, 'TopicArn');
        const token = required(f, 'Token');
        const sub = [...this.subs.values()].find((s) => s.topicArn === topicArn && s.token === token);
        if (!sub) throw new EmulatorError('InvalidParameter', 'Invalid token');
        sub.confirmed = true;
        return this.xml('ConfirmSubscription', fields([['SubscriptionArn', sub.arn]]));
      }
      case 'Unsubscribe': {
        const arn = required(f, 'SubscriptionArn');
        if (!this.subs.delete(arn)) throw notFound('Subscription');
        return this.xml('Unsubscribe', '');
      }
      case 'GetSubscriptionAttributes': {
        const sub = this.sub(required(f, 'SubscriptionArn'));
        const all: Record<string, string> = {
          SubscriptionArn: sub.arn,
          TopicArn: sub.topicArn,
          Protocol: sub.protocol,
          Endpoint: sub.endpoint,
          Owner: sub.owner,
          PendingConfirmation: String(!sub.confirmed),
          ConfirmationWasAuthenticated: String(sub.confirmed),
          RawMessageDelivery: 'false',
          ...sub.attributes,
        };
        const entries = Object.entries(all).map(
          ([k, v]) =>
            `<entry>${fields([
              ['key', k],
              ['value', v],
            ])}</entry>`,
        );
        return this.xml('GetSubscriptionAttributes', `<Attributes>${entries.join('')}</Attributes>`);
      }
      case 'SetSubscriptionAttributes': {
        const sub = this.sub(required(f, 'SubscriptionArn'));
        const name = required(f, 'AttributeName');
        this.setAttributes(sub, { [name]: f.get('AttributeValue') ?? '' });
        return this.xml('SetSubscriptionAttributes', '');
      }
      case 'ListSubscriptionsByTopic': {
        const topic = this.topic(required(f, 'TopicArn'));
        return this.page('ListSubscriptionsByTopic', this.subscriptions(topic.arn), f.get('NextToken'));
      }
      case 'ListSubscriptions':
        return this.page('ListSubscriptions', this.subscriptions(), f.get('NextToken'));
      case 'Publish': {
        const topicArn = f.get('TopicArn') ?? f.get('TargetArn');
        if (!topicArn)
          throw new EmulatorError(
            'InvalidParameter',
            'Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter',
          );
        const message = f.get('Message');
        if (message === null || message === '')
          throw new EmulatorError('InvalidParameter', 'Invalid parameter: Empty message');
        if (Buffer.byteLength(message) > 262144) {
          throw new EmulatorError('InvalidParameter', 'Invalid parameter: Message too long');
        }
        const messageAttributes: Record<string, { DataType: string; StringValue?: string }> = {};
        for (let i = 1; f.has(`MessageAttributes.entry.${i}.Name`); i++) {
          messageAttributes[f.get(`MessageAttributes.entry.${i}.Name`)!] = {
            DataType: f.get(`MessageAttributes.entry.${i}.Value.DataType`) ?? 'String',
            StringValue: f.get(`MessageAttributes.entry.${i}.Value.StringValue`) ?? undefined,
          };
        }
        const { messageId } = this.publish(topicArn, message, {
          subject: f.get('Subject') ?? undefined,
          messageAttributes,
        });
        return this.xml('Publish', fields([['MessageId', messageId]]));
      }
      default:
        throw new EmulatorError('InvalidAction', `${req.action} is not implemented by the emulator`, 400);
    }
  }

  private subscribe(f: URLSearchParams): string {
    const topic = this.topic(required(f, 'TopicArn'));
    const protocol = required(f, 'Protocol');
    const endpoint = required(f, 'Endpoint');
    const attributes = entryMap(f, 'Attributes');
    if (protocol !== 'sqs')
      throw new EmulatorError(
        'InvalidParameter',
        `Invalid parameter: the emulator delivers to sqs only, not ${protocol}`,
      );
    if (!/^arn:aws:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}$/.test(endpoint)) {
      throw new EmulatorError('InvalidParameter', 'Invalid parameter: SQS endpoint ARN');
    }
    const existing = [...this.subs.values()].find(
      (s) => s.topicArn === topic.arn && s.protocol === protocol && s.endpoint === endpoint,
    );
    if (existing) {
      const same = Object.entries(attributes).every(
        ([k, v]) => (existing.attributes[k] ?? defaultOf(k)) === v,
      );
      if (!same) {
        throw new EmulatorError(
          'InvalidParameter',
          'Invalid parameter: Attributes Reason: Subscription already exists with different attributes',
        );
      }
      return existing.confirmed || f.get('ReturnSubscriptionArn') === 'true'
        ? existing.arn
        : 'pending confirmation';
    }
    const sub: Subscription = {
      arn: `${topic.arn}:${randomUUID()}`,
      topicArn: topic.arn,
      protocol,
      endpoint,
      owner: this.accountId,
      confirmed: endpoint.split(':')[4] === this.accountId,
      attributes: {},
    };
    this.setAttributes(sub, attributes);
    this.subs.set(sub.arn, sub);
    if (!sub.confirmed) {
      // Cross-account: SNS asks the queue's owner to confirm through the queue itself.
      sub.token = randomUUID().replace(/-/g, '');
      this.deliverToQueue(
        endpoint,
        topic.arn,
        JSON.stringify({
          Type: 'SubscriptionConfirmation',
          MessageId: randomUUID(),
          Token: sub.token,
          TopicArn: topic.arn,
          Message: `You have chosen to subscribe to the topic ${topic.arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
          SubscribeURL: `https://sns.${this.region}.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${topic.arn}&Token=${sub.token}`,
          Timestamp: new Date(this.ctx.now()).toISOString(),
          SignatureVersion: '1',
          Signature: 'EMULATOR',
          SigningCertURL: `https://sns.${this.region}.amazonaws.com/SimpleNotificationService-emulator.pem`,
        }),
      );
      return f.get('ReturnSubscriptionArn') === 'true' ? sub.arn : 'pending confirmation';
    }
    return sub.arn;
  }

  /** Validates and applies attributes (all or nothing), enforcing the topic's filter-policy quota. */
  private setAttributes(sub: Subscription, attrs: Record<string, string>): void {
    for (const name of Object.keys(attrs)) {
      if (!SUBSCRIBABLE_ATTRIBUTES.has(name)) {
        throw new EmulatorError('InvalidParameter', `Invalid parameter: AttributeName`);
      }
    }
    if (
      attrs.RawMessageDelivery !== undefined &&
      !['true', 'false'].includes(attrs.RawMessageDelivery.toLowerCase())
    ) {
      throw new EmulatorError(
        'InvalidParameter',
        'Invalid parameter: RawMessageDelivery: Invalid value [' +
          attrs.RawMessageDelivery +
          ']. Must be true or false.',
      );
    }
    const scope = (attrs.FilterPolicyScope ??
      sub.attributes.FilterPolicyScope ??
      'MessageAttributes') as FilterScope;
    if (scope !== 'MessageAttributes' && scope !== 'MessageBody') {
      throw new EmulatorError(
        'InvalidParameter',
        'Invalid parameter: FilterPolicyScope: Invalid value [' +
          String(scope) +
          ']. Please use either MessageBody or MessageAttributes',
      );
    }
    const policyText = attrs.FilterPolicy ?? sub.attributes.FilterPolicy;
    let filter: Record<string, unknown> | undefined;
    if (policyText !== undefined && policyText !== '') {
      filter = parseFilterPolicy(policyText, scope);
      const others = [...this.subs.values()].filter(
        (s) => s.topicArn === sub.topicArn && s.arn !== sub.arn && s.filter,
      );
      if (!sub.filter && others.length >= this.filterPolicyLimit) {
        throw new EmulatorError('FilterPolicyLimitExceeded', 'Filter policy limit exceeded', 403);
      }
    }
    for (const [k, v] of Object.entries(attrs)) {
      if (v === '' && k === 'FilterPolicy') delete sub.attributes[k];
      else sub.attributes[k] = k === 'RawMessageDelivery' ? v.toLowerCase() : v;
    }
    sub.filter = filter;
  }

  private envelope(
    topicArn: string,
    subscriptionArn: string,
    messageId: string,
    message: string,
    subject: string | undefined,
    attributes: Record<string, { DataType: string; StringValue?: string }>,
  ): string {
    const env: Record<string, unknown> = {
      Type: 'Notification',
      MessageId: messageId,
      TopicArn: topicArn,
      ...(subject !== undefined ? { Subject: subject } : {}),
      Message: message,
      Timestamp: new Date(this.ctx.now()).toISOString(),
      SignatureVersion: '1',
      Signature: 'EMULATOR',
      SigningCertURL: `https://sns.${this.region}.amazonaws.com/SimpleNotificationService-emulator.pem`,
      UnsubscribeURL: `https://sns.${this.region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${subscriptionArn}`,
    };
    if (Object.keys(attributes).length) {
      env.MessageAttributes = Object.fromEntries(
        Object.entries(attributes).map(([k, v]) => [k, { Type: v.DataType, Value: v.StringValue }]),
      );
    }
    return JSON.stringify(env);
  }

  private page(action: string, subs: Subscription[], nextToken: string | null): EmulatorResponse {
    const start = nextToken ? Number(nextToken) : 0;
    if (!Number.isInteger(start) || start < 0)
      throw new EmulatorError('InvalidParameter', 'Invalid parameter: NextToken');
    const items = subs.slice(start, start + PAGE).map((s) =>
      fields([
        ['SubscriptionArn', s.confirmed ? s.arn : 'PendingConfirmation'],
        ['Owner', s.owner],
        ['Protocol', s.protocol],
        ['Endpoint', s.endpoint],
        ['TopicArn', s.topicArn],
      ]),
    );
    const more = start + PAGE < subs.length ? fields([['NextToken', String(start + PAGE)]]) : '';
    return this.xml(action, `<Subscriptions>${members(items)}</Subscriptions>${more}`);
  }

  private topic(arn: string): Topic {
    const t = this.topics.get(arn);
    if (!t) throw notFound('Topic');
    return t;
  }

  private sub(arn: string): Subscription {
    const s = this.subs.get(arn);
    if (!s) throw notFound('Subscription');
    return s;
  }

  private xml(action: string, result: string): EmulatorResponse {
    const body = result ? `<${action}Result>${result}</${action}Result>` : `<${action}Result/>`;
    return {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body: `<${action}Response xmlns="${XMLNS}">${body}<ResponseMetadata><RequestId>${xmlEscape(this.ctx.requestId())}</RequestId></ResponseMetadata></${action}Response>`,
    };
  }
}

function defaultOf(attribute: string): string | undefined {
  return attribute === 'RawMessageDelivery'
    ? 'false'
    : attribute === 'FilterPolicyScope'
      ? 'MessageAttributes'
      : undefined;
}
